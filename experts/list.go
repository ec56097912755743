package experts

import (
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

// List is a group of experts, such as "kubernetes", that one question goes to. The asker buys
// a number of responses at the list's price each; every member may reply once, and each reply
// is paid while responses bought are left. What is left at the deadline returns to the asker.
type List struct {
	ID           string
	Handle       string
	Name         string
	Description  string
	Price        ledger.Amount // per response
	AnswerWindow time.Duration
	Members      []string // expert account ids
	CreatedAt    time.Time
}

// NewList is a list to create. Members are handles or account ids of experts.
type NewList struct {
	Handle       string
	Name         string
	Description  string
	Price        ledger.Amount
	AnswerWindow time.Duration
	Members      []string
}

// MaxMembers bounds a list.
const MaxMembers = 200

// MaxResponses bounds the responses one list question buys.
const MaxResponses = 100

// Validate returns EINVALID naming the field that is wrong.
func (n *NewList) Validate() error {
	n.Handle = strings.ToLower(strings.TrimSpace(n.Handle))
	if !handlePattern.MatchString(n.Handle) {
		return stipend.Errorf(stipend.EINVALID, "handle: 3 to 40 lowercase letters, digits and dashes")
	}
	if err := stipend.CheckText("name", n.Name, 200, false); err != nil {
		return err
	}
	if err := stipend.CheckText("description", n.Description, maxBio, true); err != nil {
		return err
	}
	if err := n.Price.CheckPositive("price"); err != nil {
		return err
	}
	if n.AnswerWindow < MinAnswerWindow || n.AnswerWindow > MaxAnswerWindow {
		return stipend.Errorf(stipend.EINVALID, "answer_window: must be between 1 hour and 30 days")
	}
	if len(n.Members) == 0 || len(n.Members) > MaxMembers {
		return stipend.Errorf(stipend.EINVALID, "members: between 1 and %d experts", MaxMembers)
	}
	return nil
}

// ListQuestion is a question to a list, with the responses it bought.
type ListQuestion struct {
	ID        string
	ListID    string
	AskerID   string
	Body      string
	Price     ledger.Amount // per response, fixed when asked
	FeeBPS    int64
	Responses int // bought
	Paid      int // responses paid so far
	HoldID    string
	Status    string // open, then completed (every response paid) or expired
	Deadline  time.Time
	CreatedAt time.Time
	ClosedAt  *time.Time
	Replies   []Reply
}

// Completed is the state of a list question whose every bought response was paid.
const Completed = "completed"

// Reply is one member's paid answer to a list question, with the terms of the member's own
// charity share at the time of the reply.
type Reply struct {
	ID           string
	QuestionID   string
	ExpertID     string
	Answer       string
	CharityID    string
	CharityShare int64
	Parts        Parts
	LedgerTx     string
	CreatedAt    time.Time
}

// ListQuestionFilter selects list questions, newest first.
type ListQuestionFilter struct {
	AskerID  string
	MemberID string
	Status   string
	Cursor   string
	Limit    int
}
