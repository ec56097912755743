package experts

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
)

// Charity is a registered charity that experts may give a share of their earnings to. The
// operator keeps the registry. Each charity has an organisation account of its own, with the
// charity's handle and no members: donations are credited to its balance, and the payout
// engine pays that balance out to the charity. A Lightning destination is the account's
// payout preference, so donations in BTC reach the charity by themselves once they add up to
// PayoutMinimum.
type Charity struct {
	ID        string
	AccountID string
	Handle    string // a short unique name, such as "eff", which is also its account's handle
	Name      string
	Website   string
	// Receipt is what a donation receipt names: the charity's legal name, registration
	// number and address.
	Receipt string
	// Destinations says where the charity takes money on each rail, such as
	// "lightning" → a Lightning Address.
	Destinations map[string]string
	CreatedAt    time.Time

	// Filled when read: what the charity has been given, per asset, and what of it waits in
	// its account to be paid out.
	Received []ledger.Amount
	Balance  []ledger.Amount
}

// PayoutMinimum is the balance at which a charity's donations in BTC are paid out to its
// Lightning destination.
var PayoutMinimum = ledger.Sat(1000)

// Rails a charity can name a destination for.
var charityRails = []string{"lightning", "onchain", "stripe"}

// NewCharity is a charity to register.
type NewCharity struct {
	Handle       string
	Name         string
	Website      string
	Receipt      string
	Destinations map[string]string
}

// handlePattern is also a valid account handle, since the charity's account takes it.
var handlePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,37}[a-z0-9]$`)

// Validate returns EINVALID naming the field that is wrong.
func (n *NewCharity) Validate() error {
	n.Handle = strings.ToLower(strings.TrimSpace(n.Handle))
	if !handlePattern.MatchString(n.Handle) || accounts.ValidateHandle(n.Handle) != nil {
		return stipend.Errorf(stipend.EINVALID, "handle: 3 to 39 lowercase letters, digits and single dashes")
	}
	if err := stipend.CheckText("name", n.Name, 200, false); err != nil {
		return err
	}
	if n.Website != "" {
		u, err := url.Parse(n.Website)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(n.Website) > 500 {
			return stipend.Errorf(stipend.EINVALID, "website: must be an https URL")
		}
	}
	if err := stipend.CheckText("receipt", n.Receipt, 2000, false); err != nil {
		return err
	}
	if len(n.Destinations) == 0 {
		return stipend.Errorf(stipend.EINVALID, "destinations: name where the charity takes money on at least one rail (%s)", strings.Join(charityRails, ", "))
	}
	for rail, dest := range n.Destinations {
		if !slices.Contains(charityRails, rail) {
			return stipend.Errorf(stipend.EINVALID, "destinations: unknown rail %q (known: %s)", clip(rail), strings.Join(charityRails, ", "))
		}
		if err := stipend.CheckText("destinations."+rail, dest, 500, false); err != nil {
			return err
		}
		if strings.ContainsAny(dest, " \t\n") {
			return stipend.Errorf(stipend.EINVALID, "destinations.%s: must not contain spaces", rail)
		}
		if rail == "lightning" && !lightning.IsLightningAddress(dest) && !lightning.IsLNURL(dest) {
			return stipend.Errorf(stipend.EINVALID, "destinations.lightning: a Lightning Address (name@domain) or an LNURL-pay link, which can take any amount")
		}
	}
	return nil
}

// Donation is a receipt for a charity's share of an answered question.
type Donation struct {
	ID         string
	CharityID  string
	DonorID    string // the expert whose earnings were given
	QuestionID string
	Amount     int64
	Asset      string
	LedgerTx   string
	CreatedAt  time.Time
}

// clip shortens s for an error message, on a character boundary.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
