// Package experts is Stipend's paid expert questions, after 21.co's lists: experts set a price
// per answer and may give a share of their earnings to a charity; askers pay the price into
// escrow when they ask, and the money moves only when an answer arrives.
//
// The price, the platform fee and the charity share are fixed in a question when it is asked.
// The escrow is a hold on the asker's balance. When the expert answers, the hold is captured
// and split into the platform fee, the charity's share and the expert's earnings, which always
// sum to the price exactly (see Split), and a donation receipt is recorded for the charity's
// share. When the expert declines, or the deadline passes first, the hold is released to the
// asker. Every question ends in exactly one of these states, once.
package experts
