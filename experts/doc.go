// Package experts is Stipend's paid expert questions, after 21.co's lists: experts set a price
// per answer and may give a share of their earnings to a charity; askers pay the price into
// escrow when they ask, and the money moves only when an answer arrives.
//
// The price, the platform fee and the charity share are fixed in a question when it is asked.
// The escrow is a hold on the asker's balance, or a Lightning hold invoice (hold_invoice.go,
// escrow_lightning.go): the question then waits for payment and opens when the payer's HTLC
// is accepted, with a deadline that fits inside the time the HTLC can safely be held. When the
// expert answers, the escrow is captured (the hold, or the invoice settled) and split into the
// platform fee, the charity's share and the expert's earnings, which always sum to the price
// exactly (see Split), and a donation receipt is recorded for the charity's share. When the
// expert declines, or the deadline passes first, the escrow returns to the asker: the hold is
// released, or the invoice cancelled so that the HTLC fails back to the payer's wallet. Every
// question ends in exactly one of these states, once; the decision is made in the database,
// and the node is told afterwards by a job that repeats until it has been done.
package experts
