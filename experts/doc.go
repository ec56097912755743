// Package experts will hold Stipend's paid expert questions: experts set a price and a
// charity share, askers pay into escrow, and the money moves only when an answer arrives.
// Its types, rules and storage interface arrive with the expert Q&A issue; the package exists
// now so that the layout of DESIGN.md §7 is in place from the start.
package experts
