package wire

import "time"

// CreateListRequest makes a list of experts (admin). Price is what one response costs the
// asker; AnswerWindow is in seconds (1 hour to 30 days); Members are the handles or account
// ids of experts, each of whom must have an expert profile.
type CreateListRequest struct {
	Handle       string       `json:"handle"`
	Name         string       `json:"name"`
	Description  string       `json:"description,omitempty"`
	Price        MoneyRequest `json:"price"`
	AnswerWindow int64        `json:"answer_window"`
	Members      []string     `json:"members"`
}

// ListMember is a member of a list. Handle and Name are there when the list is read alone;
// the index of every list names members by id only, since naming them would read one profile
// per member of every list.
type ListMember struct {
	ID     string `json:"id"`
	Handle string `json:"handle,omitempty"`
	Name   string `json:"name,omitempty"`
}

// List is a group of experts that one question goes to. The asker buys a number of responses
// at Price each; every member may reply once, and each reply is paid while responses bought
// are left. AnswerWindow is in seconds.
type List struct {
	ID           string       `json:"id"`
	Handle       string       `json:"handle"`
	Name         string       `json:"name"`
	Description  string       `json:"description,omitempty"`
	Price        Money        `json:"price"`
	AnswerWindow int64        `json:"answer_window"`
	Members      []ListMember `json:"members"`
	CreatedAt    time.Time    `json:"created_at"`
}

// ListIndex is every list, by handle.
type ListIndex struct {
	Data []List `json:"data"`
}

// AskListRequest asks every member of a list one question and buys Responses replies, from 1
// to the number of members (at most 100).
type AskListRequest struct {
	Question  string `json:"question"`
	Responses int    `json:"responses"`
}

// ReplyRequest answers a list question as a member of its list.
type ReplyRequest struct {
	Answer string `json:"answer"`
}

// ListReply is one member's paid reply, with the member's charity terms at the time of the
// reply and how the price of the response was shared out; Transaction is the ledger
// transaction that paid it.
type ListReply struct {
	ID              string        `json:"id"`
	ExpertID        string        `json:"expert_id"`
	Answer          string        `json:"answer"`
	CharityID       string        `json:"charity_id,omitempty"`
	CharityShareBPS int64         `json:"charity_share_bps"`
	Parts           QuestionParts `json:"parts"`
	Transaction     string        `json:"transaction_id"`
	CreatedAt       time.Time     `json:"created_at"`
}

// ListQuestion is a question to a list, with the responses it bought. Price is per response,
// fixed when it was asked, and EscrowTotal is Price × Responses, held on the asker's balance
// while the question is open. Paid counts the replies paid. Status is open, then completed
// (every response paid) or expired (what was left returned to the asker). Replies are there
// when one question is read or changed; a page of questions leaves them out.
type ListQuestion struct {
	ID          string      `json:"id"`
	ListID      string      `json:"list_id"`
	AskerID     string      `json:"asker_id"`
	Question    string      `json:"question"`
	Price       Money       `json:"price"`
	FeeBPS      int64       `json:"fee_bps"`
	Responses   int         `json:"responses"`
	Paid        int         `json:"paid"`
	EscrowTotal Money       `json:"escrow_total"`
	Status      string      `json:"status"`
	Deadline    time.Time   `json:"deadline"`
	Replies     []ListReply `json:"replies"`
	CreatedAt   time.Time   `json:"created_at"`
	ClosedAt    *time.Time  `json:"closed_at,omitempty"`
}

// ListQuestionPage is one page of list questions, newest first, without their replies.
type ListQuestionPage struct {
	Data       []ListQuestion `json:"data"`
	NextCursor string         `json:"next_cursor,omitempty"`
}
