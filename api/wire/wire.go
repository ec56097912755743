// Package wire holds the JSON shapes of Stipend's /v1 HTTP API, shared by the server, the Go
// client and the OpenAPI document. Amounts are integers in the asset's minor unit (millisatoshis
// for BTC, cents for USD and EUR) and always travel with their asset; never as floats.
package wire

import "time"

// Problem is an RFC 9457 problem detail, the body of every error response.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"`
}

// Account is a user or an organisation.
type Account struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Handle    string    `json:"handle"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	Owners    []string  `json:"owners,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateAccountRequest creates a user or an organisation (admin only).
type CreateAccountRequest struct {
	Kind   string   `json:"kind"`
	Handle string   `json:"handle"`
	Name   string   `json:"name"`
	Email  string   `json:"email,omitempty"`
	Owners []string `json:"owners,omitempty"`
}

// SetMemberRequest makes a user (by id or handle) an owner or a member of an organisation.
type SetMemberRequest struct {
	Account string `json:"account"`
	Role    string `json:"role"`
}

// Key is an API key, without its secret.
type Key struct {
	ID         string     `json:"id"`
	AccountID  string     `json:"account_id"`
	Name       string     `json:"name"`
	Hint       string     `json:"hint"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// CreateKeyRequest creates an API key for the caller's account, or for an account the caller
// may act for.
type CreateKeyRequest struct {
	AccountID string     `json:"account_id,omitempty"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CreatedKey is a new key with its secret, which is shown only in this response.
type CreatedKey struct {
	Key
	Secret string `json:"secret"`
}

// KeyList is a list of keys.
type KeyList struct {
	Data []Key `json:"data"`
}

// Me is the caller: its account and the key it used.
type Me struct {
	Account Account `json:"account"`
	Key     Key     `json:"key"`
}

// Balance is an account's money in one asset. Total = Available + Held.
type Balance struct {
	Asset     string `json:"asset"`
	Unit      string `json:"unit"`
	Available int64  `json:"available"`
	Held      int64  `json:"held"`
	Total     int64  `json:"total"`
}

// Balances lists an account's balances.
type Balances struct {
	AccountID string    `json:"account_id"`
	Data      []Balance `json:"data"`
}

// Entry is one leg of a ledger transaction: a credit (positive) or debit (negative).
type Entry struct {
	Address string `json:"address"`
	Amount  int64  `json:"amount"`
	Asset   string `json:"asset"`
	Unit    string `json:"unit"`
}

// Transaction is a ledger transaction.
type Transaction struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Memo      string            `json:"memo,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedBy string            `json:"created_by,omitempty"`
	Reverses  string            `json:"reverses,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	Entries   []Entry           `json:"entries"`
}

// TransactionPage is one page of transactions, newest first. NextCursor, when present, is
// passed as ?cursor= to get the next page.
type TransactionPage struct {
	AccountID  string        `json:"account_id"`
	Data       []Transaction `json:"data"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// AdminCreditRequest credits an account, named by id or handle, from outside Stipend (admin
// only).
type AdminCreditRequest struct {
	AccountID string `json:"account_id"`
	Amount    int64  `json:"amount"`
	Asset     string `json:"asset"`
	Memo      string `json:"memo,omitempty"`
}

// TransferRequest moves money from the caller's account (or From, an organisation the caller
// owns) to another account named by id or handle.
type TransferRequest struct {
	From   string `json:"from,omitempty"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
	Asset  string `json:"asset"`
	Memo   string `json:"memo,omitempty"`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
}

// CreateFundingRequest asks for a Lightning invoice that credits an account when paid.
type CreateFundingRequest struct {
	AccountID string `json:"account_id,omitempty"`
	Amount    int64  `json:"amount"`
	Asset     string `json:"asset"`
	Memo      string `json:"memo,omitempty"`
}

// Funding is a Lightning invoice that credits an account when it is paid. Status is open,
// settled or expired.
type Funding struct {
	ID          string     `json:"id"`
	AccountID   string     `json:"account_id"`
	Status      string     `json:"status"`
	Amount      int64      `json:"amount"`
	Asset       string     `json:"asset"`
	Unit        string     `json:"unit"`
	AmountPaid  int64      `json:"amount_paid,omitempty"`
	Invoice     string     `json:"invoice"`
	PaymentHash string     `json:"payment_hash"`
	Memo        string     `json:"memo,omitempty"`
	Transaction string     `json:"transaction_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	SettledAt   *time.Time `json:"settled_at,omitempty"`
}

// CreatePayoutRequest withdraws to a BOLT11 invoice, a Lightning Address or an LNURL-pay
// link. Amount may be left out for an invoice that has one; MaxFee caps the routing fee (in
// msat; the server's policy when left out).
type CreatePayoutRequest struct {
	AccountID   string `json:"account_id,omitempty"`
	Destination string `json:"destination"`
	Amount      int64  `json:"amount,omitempty"`
	Asset       string `json:"asset,omitempty"`
	MaxFee      *int64 `json:"max_fee,omitempty"`
}

// Payout is money leaving Stipend. Status is requested, in_flight, succeeded, failed or
// cancelled. Proof is the payment's preimage once it succeeded.
type Payout struct {
	ID          string     `json:"id"`
	AccountID   string     `json:"account_id"`
	Status      string     `json:"status"`
	Rail        string     `json:"rail"`
	Amount      int64      `json:"amount"`
	Asset       string     `json:"asset"`
	Unit        string     `json:"unit"`
	FeeCap      int64      `json:"fee_cap"`
	FeePaid     int64      `json:"fee_paid"`
	Destination string     `json:"destination"`
	Invoice     string     `json:"invoice,omitempty"`
	PaymentHash string     `json:"payment_hash,omitempty"`
	Proof       string     `json:"proof,omitempty"`
	Failure     string     `json:"failure,omitempty"`
	Source      string     `json:"source"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// PayoutPage is one page of payouts, newest first.
type PayoutPage struct {
	AccountID  string   `json:"account_id"`
	Data       []Payout `json:"data"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// PayoutPreference says how an account wants an asset paid out: rail "keep" keeps it as a
// balance; rail "lightning" pays it to a Lightning Address whenever the available balance
// reaches Minimum.
type PayoutPreference struct {
	Asset       string    `json:"asset"`
	Unit        string    `json:"unit"`
	Rail        string    `json:"rail"`
	Destination string    `json:"destination,omitempty"`
	Minimum     int64     `json:"minimum"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// SetPayoutPreferenceRequest sets the preference of one asset.
type SetPayoutPreferenceRequest struct {
	AccountID   string `json:"account_id,omitempty"`
	Rail        string `json:"rail"`
	Destination string `json:"destination,omitempty"`
	Minimum     int64  `json:"minimum,omitempty"`
}

// PayoutPreferences lists an account's preferences.
type PayoutPreferences struct {
	AccountID string             `json:"account_id"`
	Data      []PayoutPreference `json:"data"`
}

// Money is an amount of an asset.
type Money struct {
	Amount int64  `json:"amount"`
	Asset  string `json:"asset"`
	Unit   string `json:"unit"`
}

// MoneyRequest is an amount given in a request.
type MoneyRequest struct {
	Amount int64  `json:"amount"`
	Asset  string `json:"asset"`
}

// CreateBountyRequest creates and funds a bounty. Reward is per accepted unit; the platform
// fee is charged on top of reward × units and shown in the response. ClaimWindow, in
// seconds, lets contributors reserve a unit while they work (0: no claims).
type CreateBountyRequest struct {
	SponsorID   string       `json:"sponsor_id,omitempty"`
	Kind        string       `json:"kind"`
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	Link        string       `json:"link,omitempty"`
	Reward      MoneyRequest `json:"reward"`
	Units       int          `json:"units"`
	Approval    string       `json:"approval"`
	Reviewers   []string     `json:"reviewers,omitempty"`
	ClaimWindow int64        `json:"claim_window,omitempty"`
	Deadline    time.Time    `json:"deadline"`
}

// Bounty is a funded task. Status is open, cancelled or expired.
type Bounty struct {
	ID          string     `json:"id"`
	SponsorID   string     `json:"sponsor_id"`
	Kind        string     `json:"kind"`
	Title       string     `json:"title"`
	Description string     `json:"description,omitempty"`
	Link        string     `json:"link,omitempty"`
	Reward      Money      `json:"reward"`
	FeePerUnit  Money      `json:"fee_per_unit"`
	FeeBPS      int64      `json:"fee_bps"`
	Units       int        `json:"units"`
	UnitsPaid   int        `json:"units_paid"`
	Approval    string     `json:"approval"`
	Reviewers   []string   `json:"reviewers,omitempty"`
	ClaimWindow int64      `json:"claim_window"`
	Status      string     `json:"status"`
	Deadline    time.Time  `json:"deadline"`
	CreatedAt   time.Time  `json:"created_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	// Cost is what funding the bounty's units took from its sponsor: rewards plus fees.
	Cost Money `json:"cost"`
}

// BountyPage is one page of bounties, newest first.
type BountyPage struct {
	Data       []Bounty `json:"data"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// TopUpRequest buys more units of a bounty.
type TopUpRequest struct {
	Units int `json:"units"`
}

// ResultVerdict is what became of one reported result: paid, duplicate, failing,
// over_budget or rejected, and why.
type ResultVerdict struct {
	RunID       string `json:"run_id"`
	Test        string `json:"test"`
	Outcome     string `json:"outcome"`
	Contributor string `json:"contributor"`
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
	Paid        int64  `json:"paid,omitempty"`
	PaidTo      string `json:"paid_to,omitempty"`
}

// ResultsReport answers an upload of CI results.
type ResultsReport struct {
	BountyID   string          `json:"bounty_id"`
	Paid       int             `json:"paid"`
	Duplicate  int             `json:"duplicate"`
	Failing    int             `json:"failing"`
	OverBudget int             `json:"over_budget"`
	Rejected   int             `json:"rejected"`
	AmountPaid Money           `json:"amount_paid"`
	UnitsLeft  int             `json:"units_left"`
	Results    []ResultVerdict `json:"results"`
}

// Claim reserves a unit of a bounty while its holder works. Status is active, submitted or
// released.
type Claim struct {
	ID        string    `json:"id"`
	BountyID  string    `json:"bounty_id"`
	AccountID string    `json:"account_id"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateSubmissionRequest hands in work for a review bounty.
type CreateSubmissionRequest struct {
	Evidence string `json:"evidence"`
	ClaimID  string `json:"claim_id,omitempty"`
}

// Submission is work handed in. Status is pending, approved or rejected.
type Submission struct {
	ID          string     `json:"id"`
	BountyID    string     `json:"bounty_id"`
	AccountID   string     `json:"account_id"`
	ClaimID     string     `json:"claim_id,omitempty"`
	Evidence    string     `json:"evidence"`
	Status      string     `json:"status"`
	Reason      string     `json:"reason,omitempty"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	Transaction string     `json:"transaction_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
}

// SubmissionList lists submissions.
type SubmissionList struct {
	Data []Submission `json:"data"`
}

// RejectRequest says why a submission is rejected.
type RejectRequest struct {
	Reason string `json:"reason"`
}

// BountyStatement is a bounty's public account: funds in, fees, what was paid and what went
// back, with its ledger transactions, newest first.
type BountyStatement struct {
	Bounty          Bounty        `json:"bounty"`
	FundedRewards   Money         `json:"funded_rewards"`
	FundedFees      Money         `json:"funded_fees"`
	PaidRewards     Money         `json:"paid_rewards"`
	FeesEarned      Money         `json:"fees_earned"`
	Refunded        Money         `json:"refunded"`
	UnclaimedReturn Money         `json:"unclaimed_returned"`
	Escrow          Money         `json:"escrow"`
	Pending         Money         `json:"pending"`
	Transactions    []Transaction `json:"transactions"`
	NextCursor      string        `json:"next_cursor,omitempty"`
}

// GitHubLinkRequest links a GitHub login to an account (admin).
type GitHubLinkRequest struct {
	AccountID string `json:"account_id"`
	Login     string `json:"login"`
}

// GitHubLinkStart is where a person goes to prove they hold a GitHub login.
type GitHubLinkStart struct {
	AuthorizeURL string    `json:"authorize_url"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// GitHubLinkConfirmRequest gives back the code GitHub's callback page showed.
type GitHubLinkConfirmRequest struct {
	Code string `json:"code"`
}

// GitHubLink is a GitHub login linked to an account, with the pending rewards the link
// moved into the account.
type GitHubLink struct {
	AccountID string  `json:"account_id"`
	Login     string  `json:"login"`
	Moved     []Money `json:"moved"`
}
