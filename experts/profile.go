package experts

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

// Profile is an expert's offer: what they answer, at what price, how fast, and where a share
// of their earnings goes.
type Profile struct {
	AccountID    string
	Handle       string // the account's handle, by which askers find the expert
	Name         string
	Bio          string
	Topics       []string
	Price        ledger.Amount // per answer
	AnswerWindow time.Duration // how long the expert has to answer a question
	Accepting    bool          // whether new questions are taken
	CharityID    string        // "" for none
	CharityShare int64         // basis points of the earnings that go to the charity
	UpdatedAt    time.Time

	// Filled when read: the expert's record.
	Answered    int
	RatingCount int
	RatingSum   int
}

// Rating returns the average rating in tenths (47 for 4.7), or 0 when there is none.
func (p *Profile) Rating() int {
	if p.RatingCount == 0 {
		return 0
	}
	return (p.RatingSum*10 + p.RatingCount/2) / p.RatingCount
}

// ProfileInput sets an expert's profile.
type ProfileInput struct {
	Name         string
	Bio          string
	Topics       []string
	Price        ledger.Amount
	AnswerWindow time.Duration
	Accepting    bool
	Charity      string // a charity's id or handle, "" for none
	CharityShare int64  // basis points, 0..MaxBPS; must be 0 without a charity
}

// Limits of a profile.
const (
	MinAnswerWindow = time.Hour
	MaxAnswerWindow = 30 * 24 * time.Hour
	maxTopics       = 10
	maxBio          = 2000
)

var topicPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]{0,39}$`)

// Validate normalises the topics and returns EINVALID naming the field that is wrong.
func (in *ProfileInput) Validate() error {
	if err := stipend.CheckText("name", in.Name, 200, false); err != nil {
		return err
	}
	if err := stipend.CheckText("bio", in.Bio, maxBio, true); err != nil {
		return err
	}
	if len(in.Topics) > maxTopics {
		return stipend.Errorf(stipend.EINVALID, "topics: at most %d", maxTopics)
	}
	topics := make([]string, 0, len(in.Topics))
	for _, t := range in.Topics {
		t = strings.ToLower(strings.TrimSpace(t))
		if !topicPattern.MatchString(t) {
			return stipend.Errorf(stipend.EINVALID, "topics: %q is not a topic: lowercase letters, digits, '.', '+' and '-', up to 40", clip(t))
		}
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	in.Topics = topics
	if err := in.Price.CheckPositive("price"); err != nil {
		return err
	}
	if in.AnswerWindow < MinAnswerWindow || in.AnswerWindow > MaxAnswerWindow {
		return stipend.Errorf(stipend.EINVALID, "answer_window: must be between 1 hour and 30 days")
	}
	if in.CharityShare < 0 || in.CharityShare > MaxBPS {
		return stipend.Errorf(stipend.EINVALID, "charity_share: must be between 0 %% and 100 %% (0 to %d basis points)", MaxBPS)
	}
	if in.Charity == "" && in.CharityShare != 0 {
		return stipend.Errorf(stipend.EINVALID, "charity_share: name the charity it goes to")
	}
	return nil
}

// Filter selects experts for the public directory, in handle order.
type Filter struct {
	Topic     string
	Query     string // words of the name or bio
	Accepting bool   // only those taking questions
	Cursor    string // the last handle of the previous page
	Limit     int
}
