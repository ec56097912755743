package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/api/wire"
)

// route is one row of the route table: how it is served and how the OpenAPI document
// describes it.
type route struct {
	Method  string
	Path    string // OpenAPI style: /v1/keys/{id}
	Handler echo.HandlerFunc
	Name    string // operationId
	Tag     string
	Summary string

	Auth       bool   // an API key is required
	Scope      string // the scope the key must carry ("" for any)
	MovesMoney bool   // Idempotency-Key required; request body strict

	BodyLimit int64 // bytes, for a route whose bodies may be larger than the general limit

	Request  any // the JSON body type, or nil
	Response any // the JSON response type, or nil for no body
	Status   int // the success status
	Query    []param
	// Raw marks routes whose body is not JSON described by Response (metrics, the document).
	Raw string
	// RawRequest lists the media types of a request body that is not JSON described by
	// Request (uploads of CI results).
	RawRequest []string

	// Priced makes the route paid per call (DESIGN.md section 6): it computes the offer, and
	// the paywall takes the place of Auth (credits authenticate an API key themselves).
	Priced pricer
	// Tail makes the last path parameter match the rest of the path, slashes included.
	Tail bool
	// Methods, when set, serves the route under each of these methods instead of Method.
	Methods []string
	// Deposit makes an Auth route that spends the caller's balance payable over Lightning: a
	// caller short of funds gets a 402 whose L402 token is bound to their account.
	Deposit depositPricer
}

type param struct {
	Name, Description string
}

// routes is the one route table of the API.
func (s *Server) routes() []route {
	o := s.opts
	return []route{
		{Method: http.MethodGet, Path: "/healthz", Handler: s.healthz, Name: "healthz", Tag: "operations",
			Summary: "Liveness: the process is up.", Response: wire.Health{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/readyz", Handler: s.readyz, Name: "readyz", Tag: "operations",
			Summary: "Readiness: the database answers and its schema is current.", Response: wire.Health{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/metrics", Handler: s.metricsHandler, Name: "metrics", Tag: "operations",
			Summary: "Prometheus metrics.", Status: http.StatusOK, Raw: "text/plain"},
		{Method: http.MethodGet, Path: "/openapi.json", Handler: s.openAPIHandler, Name: "openapi", Tag: "operations",
			Summary: "This OpenAPI document.", Status: http.StatusOK, Raw: "application/json"},

		{Method: http.MethodGet, Path: "/v1/me", Handler: s.me, Name: "getMe", Tag: "accounts",
			Summary: "The caller's account and API key.", Auth: true, Response: wire.Me{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/accounts", Handler: s.createAccount, Name: "createAccount", Tag: "accounts",
			Summary: "Create a user or an organisation (admin).", Auth: true, Scope: accounts.ScopeAdmin,
			Request: wire.CreateAccountRequest{}, Response: wire.Account{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/accounts/{id}", Handler: s.getAccount, Name: "getAccount", Tag: "accounts",
			Summary: "An account the caller may read.", Auth: true, Scope: accounts.ScopeRead, Response: wire.Account{}, Status: http.StatusOK},

		{Method: http.MethodPost, Path: "/v1/accounts/{id}/members", Handler: s.setMember, Name: "setMember", Tag: "accounts",
			Summary: "Make a user an owner or a member of an organisation (owners, admin).", Auth: true, Scope: accounts.ScopeKeys,
			Request: wire.SetMemberRequest{}, Response: wire.Account{}, Status: http.StatusOK},
		{Method: http.MethodDelete, Path: "/v1/accounts/{id}/members/{member}", Handler: s.removeMember, Name: "removeMember", Tag: "accounts",
			Summary: "Take a user out of an organisation (owners, admin).", Auth: true, Scope: accounts.ScopeKeys,
			Response: wire.Account{}, Status: http.StatusOK},

		{Method: http.MethodPost, Path: "/v1/keys", Handler: s.createKey, Name: "createKey", Tag: "keys",
			Summary: "Create an API key; its secret is in this response only.", Auth: true, Scope: accounts.ScopeKeys,
			Request: wire.CreateKeyRequest{}, Response: wire.CreatedKey{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/keys", Handler: s.listKeys, Name: "listKeys", Tag: "keys",
			Summary: "The API keys of the caller's account (or ?account_id=).", Auth: true, Scope: accounts.ScopeRead,
			Query:    []param{{"account_id", "An account the caller may act for; default the caller's."}},
			Response: wire.KeyList{}, Status: http.StatusOK},
		{Method: http.MethodDelete, Path: "/v1/keys/{id}", Handler: s.revokeKey, Name: "revokeKey", Tag: "keys",
			Summary: "Revoke an API key.", Auth: true, Scope: accounts.ScopeKeys, Response: wire.Key{}, Status: http.StatusOK},

		{Method: http.MethodGet, Path: "/v1/balances", Handler: s.balances, Name: "getBalances", Tag: "ledger",
			Summary: "Balances per asset: available, held and total.", Auth: true, Scope: accounts.ScopeRead,
			Query:    []param{{"account_id", "An account the caller may read; default the caller's."}},
			Response: wire.Balances{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/transactions", Handler: s.transactions, Name: "listTransactions", Tag: "ledger",
			Summary: "Ledger transactions touching the account, newest first.", Auth: true, Scope: accounts.ScopeRead,
			Query: []param{
				{"account_id", "An account the caller may read; default the caller's."},
				{"cursor", "next_cursor of the previous page."},
				{"limit", "Page size, 1 to 500 (default 50)."},
			},
			Response: wire.TransactionPage{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/transfers", Handler: s.transfer, Name: "createTransfer", Tag: "ledger",
			Summary: "Move money from the caller's account to another.", Auth: true, Scope: accounts.ScopeTransfers, MovesMoney: true,
			Request: wire.TransferRequest{}, Response: wire.Transaction{}, Status: http.StatusCreated},
		{Method: http.MethodPost, Path: "/v1/fundings", Handler: s.createFunding, Name: "createFunding", Tag: "fundings",
			Summary: "Get a Lightning invoice that credits an account when it is paid.", Auth: true, Scope: accounts.ScopeRead,
			MovesMoney: true, Request: wire.CreateFundingRequest{}, Response: wire.Funding{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/fundings/{id}", Handler: s.getFunding, Name: "getFunding", Tag: "fundings",
			Summary: "A funding and whether its invoice was paid.", Auth: true, Scope: accounts.ScopeRead,
			Response: wire.Funding{}, Status: http.StatusOK},

		{Method: http.MethodPost, Path: "/v1/card-fundings", Handler: s.createCardFunding, Name: "createCardFunding", Tag: "fundings",
			Summary: "Fund an account by card in USD or EUR: a Stripe PaymentIntent whose client_secret the payer confirms with Stripe.js; the balance is credited when Stripe reports the payment succeeded.",
			Auth:    true, Scope: accounts.ScopeRead, MovesMoney: true, Request: wire.CreateCardFundingRequest{}, Response: wire.CardFunding{},
			Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/card-fundings/{id}", Handler: s.getCardFunding, Name: "getCardFunding", Tag: "fundings",
			Summary: "A card funding and whether it was credited.", Auth: true, Scope: accounts.ScopeRead, Response: wire.CardFunding{},
			Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/card-fundings/{id}/refunds", Handler: s.refundCardFunding, Name: "refundCardFunding", Tag: "fundings",
			Summary: "Give (part of) a card funding back to the card that paid it, from the funded account's balance, which must cover it.",
			Auth:    true, Scope: accounts.ScopePayouts, MovesMoney: true, Request: wire.CreateCardRefundRequest{}, Response: wire.CardRefund{},
			Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/card-refunds/{id}", Handler: s.getCardRefund, Name: "getCardRefund", Tag: "fundings",
			Summary: "A refund of a card funding and where it stands.", Auth: true, Scope: accounts.ScopeRead, Response: wire.CardRefund{},
			Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/stripe/connect", Handler: s.connectStripe, Name: "connectStripe", Tag: "payouts",
			Summary: "Give an account a Stripe Connect account for payouts in USD and EUR, once, and get the link where its owner onboards.",
			Auth:    true, Scope: accounts.ScopePayouts, Request: wire.ConnectRequest{}, Response: wire.Connect{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/stripe/connect", Handler: s.getStripeConnect, Name: "getStripeConnect", Tag: "payouts",
			Summary: "An account's Stripe Connect account and whether Stripe enabled its payouts.", Auth: true, Scope: accounts.ScopeRead,
			Query: []param{{"account_id", "An account the caller may read; default the caller's."}}, Response: wire.Connect{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/stripe/connect/done", Handler: s.stripeConnectDone, Name: "stripeConnectDone", Tag: "payouts",
			Summary: "Where Stripe's onboarding sends a payee back: a page saying what happens next.", Status: http.StatusOK, Raw: "text/html"},
		{Method: http.MethodPost, Path: "/v1/stripe/webhook", Handler: s.stripeWebhook, Name: "stripeWebhook", Tag: "operations",
			Summary: "Stripe's events, signed (Stripe-Signature); each event id is applied once.", RawRequest: []string{"application/json"},
			Response: wire.WebhookReceived{}, Status: http.StatusOK},

		{Method: http.MethodPost, Path: "/v1/payouts", Handler: s.createPayout, Name: "createPayout", Tag: "payouts",
			Summary: "Withdraw to a BOLT11 invoice, a Lightning Address or an LNURL-pay link.", Auth: true, Scope: accounts.ScopePayouts,
			MovesMoney: true, Request: wire.CreatePayoutRequest{}, Response: wire.Payout{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/payouts", Handler: s.listPayouts, Name: "listPayouts", Tag: "payouts",
			Summary: "An account's payouts, newest first.", Auth: true, Scope: accounts.ScopeRead,
			Query: []param{
				{"account_id", "An account the caller may read; default the caller's."},
				{"cursor", "next_cursor of the previous page."},
				{"limit", "Page size, 1 to 500 (default 50)."},
			},
			Response: wire.PayoutPage{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/payouts/{id}", Handler: s.getPayout, Name: "getPayout", Tag: "payouts",
			Summary: "A payout, with its proof of payment once it succeeded.", Auth: true, Scope: accounts.ScopeRead,
			Response: wire.Payout{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/payouts/{id}/cancel", Handler: s.cancelPayout, Name: "cancelPayout", Tag: "payouts",
			Summary: "Cancel a payout that is not yet in flight; its money returns.", Auth: true, Scope: accounts.ScopePayouts,
			MovesMoney: true, Response: wire.Payout{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/payout-preferences", Handler: s.listPayoutPreferences, Name: "listPayoutPreferences", Tag: "payouts",
			Summary: "How an account wants each asset paid out.", Auth: true, Scope: accounts.ScopeRead,
			Query:    []param{{"account_id", "An account the caller may read; default the caller's."}},
			Response: wire.PayoutPreferences{}, Status: http.StatusOK},
		{Method: http.MethodPut, Path: "/v1/payout-preferences/{asset}", Handler: s.setPayoutPreference, Name: "setPayoutPreference", Tag: "payouts",
			Summary: "Keep an asset as a balance, or sweep it to a Lightning Address above a minimum.", Auth: true, Scope: accounts.ScopePayouts,
			Request: wire.SetPayoutPreferenceRequest{}, Response: wire.PayoutPreference{}, Status: http.StatusOK},

		{Method: http.MethodGet, Path: "/v1/bounties", Handler: s.listBounties, Name: "listBounties", Tag: "bounties",
			Summary: "Public list and search of bounties, newest first.",
			Query: []param{
				{"status", "open, cancelled or expired."}, {"kind", "test_run, docs, triage or custom."},
				{"sponsor_id", "Only this sponsor's bounties."}, {"q", "Words of the title or description."},
				{"cursor", "next_cursor of the previous page."}, {"limit", "Page size, 1 to 500 (default 50)."},
			},
			Response: wire.BountyPage{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/bounties", Handler: s.createBounty, Name: "createBounty", Tag: "bounties",
			Summary: "Create a bounty; reward × units plus the platform fee move into its escrow.", Auth: true,
			Scope: accounts.ScopeBounties, MovesMoney: true, Request: wire.CreateBountyRequest{}, Response: wire.Bounty{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/bounties/{id}", Handler: s.getBounty, Name: "getBounty", Tag: "bounties",
			Summary: "A bounty (public).", Response: wire.Bounty{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/bounties/{id}/statement", Handler: s.bountyStatement, Name: "getBountyStatement", Tag: "bounties",
			Summary:  "A bounty's public account: funds in, fees, payments and refunds, with its transactions.",
			Query:    []param{{"cursor", "next_cursor of the previous page."}, {"limit", "Transactions per page, 1 to 500 (default 50)."}},
			Response: wire.BountyStatement{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/bounties/{id}/topup", Handler: s.topUpBounty, Name: "topUpBounty", Tag: "bounties",
			Summary: "Buy more units of an open bounty (its sponsor).", Auth: true, Scope: accounts.ScopeBounties, MovesMoney: true,
			Request: wire.TopUpRequest{}, Response: wire.Bounty{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/bounties/{id}/cancel", Handler: s.cancelBounty, Name: "cancelBounty", Tag: "bounties",
			Summary: "Cancel an open bounty; what is left in escrow returns to its sponsor.", Auth: true, Scope: accounts.ScopeBounties,
			MovesMoney: true, Response: wire.Bounty{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/bounties/{id}/results", Handler: s.reportResults, Name: "reportResults", Tag: "bounties",
			Summary: "Report CI results with a CI token of the sponsor (scope ci:report, or ci:report:<bounty id>); each new passing result is paid while units last.",
			Auth:    true, MovesMoney: true, BodyLimit: o.ResultsLimit,
			RawRequest: []string{"application/json", "application/xml", "application/x-ndjson"},
			Query: []param{
				{"format", "json, junit or go-test-json; by default taken from the Content-Type."},
				{"run_id", "The run, for formats that do not name it (JUnit, go test -json)."},
				{"contributor", "The GitHub login paid for results that name none."},
			},
			Response: wire.ResultsReport{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/bounties/{id}/claims", Handler: s.claimBounty, Name: "claimBounty", Tag: "bounties",
			Summary: "Reserve a unit of work for the bounty's claim window.", Auth: true, Scope: accounts.ScopeRead,
			Response: wire.Claim{}, Status: http.StatusCreated},
		{Method: http.MethodDelete, Path: "/v1/bounties/{id}/claims/{claim}", Handler: s.releaseClaim, Name: "releaseClaim", Tag: "bounties",
			Summary: "Give up a claim.", Auth: true, Scope: accounts.ScopeRead, Response: wire.Claim{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/bounties/{id}/submissions", Handler: s.submitWork, Name: "createSubmission", Tag: "bounties",
			Summary: "Hand in work for a review bounty, with evidence.", Auth: true, Scope: accounts.ScopeRead,
			Request: wire.CreateSubmissionRequest{}, Response: wire.Submission{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/bounties/{id}/submissions", Handler: s.listSubmissions, Name: "listSubmissions", Tag: "bounties",
			Summary: "A bounty's submissions: all of them for its sponsor and reviewers, one's own for others.", Auth: true,
			Scope: accounts.ScopeRead, Response: wire.SubmissionList{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/bounties/{id}/submissions/{submission}/approve", Handler: s.approveSubmission, Name: "approveSubmission",
			Tag: "bounties", Summary: "Approve a submission, which pays its submitter one unit (sponsor or reviewer).", Auth: true,
			Scope: accounts.ScopeRead, MovesMoney: true, Response: wire.Submission{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/bounties/{id}/submissions/{submission}/reject", Handler: s.rejectSubmission, Name: "rejectSubmission",
			Tag: "bounties", Summary: "Reject a submission with a reason (sponsor or reviewer).", Auth: true, Scope: accounts.ScopeRead,
			Request: wire.RejectRequest{}, Response: wire.Submission{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/github/link", Handler: s.startGitHubLink, Name: "startGitHubLink", Tag: "github",
			Summary: "Start linking a GitHub login to the caller's account: returns GitHub's authorisation page.", Auth: true,
			Scope: accounts.ScopeKeys, Response: wire.GitHubLinkStart{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/github/callback", Handler: s.gitHubCallback, Name: "gitHubCallback", Tag: "github",
			Summary: "Where GitHub sends the browser back: a page with the code that confirms the link.", Status: http.StatusOK,
			Raw: "text/html", Query: []param{{"code", "GitHub's authorisation code."}, {"state", "The state Stipend gave GitHub."}}},
		{Method: http.MethodPost, Path: "/v1/github/link/confirm", Handler: s.confirmGitHubLink, Name: "confirmGitHubLink", Tag: "github",
			Summary: "Confirm a link with the code GitHub's callback page showed, which moves the rewards pending for the login into the account.",
			Auth:    true, Scope: accounts.ScopeKeys, MovesMoney: true, Request: wire.GitHubLinkConfirmRequest{}, Response: wire.GitHubLink{},
			Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/admin/github-links", Handler: s.linkGitHub, Name: "linkGitHub", Tag: "admin",
			Summary: "Link a GitHub login to an account (admin), which moves the rewards pending for the login into it.", Auth: true,
			Scope: accounts.ScopeAdmin, MovesMoney: true, Request: wire.GitHubLinkRequest{}, Response: wire.GitHubLink{}, Status: http.StatusOK},

		{Method: http.MethodPost, Path: "/v1/admin/charities", Handler: s.createCharity, Name: "createCharity", Tag: "admin",
			Summary: "Register a charity that experts may give a share of their earnings to (admin).", Auth: true,
			Scope: accounts.ScopeAdmin, Request: wire.CreateCharityRequest{}, Response: wire.Charity{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/charities", Handler: s.listCharities, Name: "listCharities", Tag: "charities",
			Summary: "The charity registry, by handle, with what each has received (public).", Response: wire.CharityList{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/charities/{charity}", Handler: s.getCharity, Name: "getCharity", Tag: "charities",
			Summary: "A charity, by id or handle, with what it has received (public).", Response: wire.Charity{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/charities/{charity}/donations", Handler: s.listDonations, Name: "listDonations", Tag: "charities",
			Summary:  "A charity's donation receipts, newest first, with its receipt details (public).",
			Query:    []param{{"cursor", "next_cursor of the previous page."}, {"limit", "Page size, 1 to 500 (default 50)."}},
			Response: wire.DonationPage{}, Status: http.StatusOK},

		{Method: http.MethodPut, Path: "/v1/me/expert", Handler: s.setExpert, Name: "setExpertProfile", Tag: "experts",
			Summary: "Set the caller's expert profile: price per answer, answer window, topics, charity share.", Auth: true,
			Scope: accounts.ScopeAnswer, Request: wire.SetExpertRequest{}, Response: wire.Expert{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/experts", Handler: s.listExperts, Name: "listExperts", Tag: "experts",
			Summary: "The public directory of experts, by handle.",
			Query: []param{
				{"topic", "Only experts of this topic."}, {"q", "Words of the name or bio."},
				{"accepting", "true: only experts taking questions now."},
				{"cursor", "next_cursor of the previous page."}, {"limit", "Page size, 1 to 500 (default 50)."},
			},
			Response: wire.ExpertPage{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/experts/{handle}", Handler: s.getExpert, Name: "getExpert", Tag: "experts",
			Summary: "An expert's public profile and record.", Response: wire.Expert{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/experts/{handle}/questions", Handler: s.askExpert, Name: "askExpert", Tag: "experts",
			Summary: "Ask an expert a question: the expert's price is held (on the caller's balance, by a Lightning hold invoice or by a card authorisation) until it is answered (paid), declined or expires (returned).",
			Auth:    true, Scope: accounts.ScopeTransfers, MovesMoney: true, Request: wire.AskRequest{}, Response: wire.Question{}, Status: http.StatusCreated,
			Deposit: s.askOffer},
		{Method: http.MethodGet, Path: "/v1/questions", Handler: s.listQuestions, Name: "listQuestions", Tag: "experts",
			Summary: "The questions the caller asked, newest first.", Auth: true, Scope: accounts.ScopeRead,
			Query: []param{
				{"status", "open, answered, declined or expired."},
				{"cursor", "next_cursor of the previous page."}, {"limit", "Page size, 1 to 500 (default 50)."},
			},
			Response: wire.QuestionPage{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/inbox", Handler: s.inbox, Name: "listInbox", Tag: "experts",
			Summary: "The questions asked of the caller as an expert, newest first.", Auth: true, Scope: accounts.ScopeAnswer,
			Query: []param{
				{"status", "open, answered, declined or expired."},
				{"cursor", "next_cursor of the previous page."}, {"limit", "Page size, 1 to 500 (default 50)."},
			},
			Response: wire.QuestionPage{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/questions/{id}", Handler: s.getQuestion, Name: "getQuestion", Tag: "experts",
			Summary: "A question, to its asker, its expert or an admin.", Auth: true, Scope: accounts.ScopeRead,
			Response: wire.Question{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/questions/{id}/answer", Handler: s.answerQuestion, Name: "answerQuestion", Tag: "experts",
			Summary: "Answer a question before its deadline (its expert): the price is split into the platform fee, the charity's share and the expert's earnings.",
			Auth:    true, Scope: accounts.ScopeAnswer, MovesMoney: true, Request: wire.AnswerRequest{}, Response: wire.Question{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/questions/{id}/decline", Handler: s.declineQuestion, Name: "declineQuestion", Tag: "experts",
			Summary: "Turn a question down (its expert); the price returns to the asker.", Auth: true, Scope: accounts.ScopeAnswer,
			MovesMoney: true, Request: wire.DeclineRequest{}, Response: wire.Question{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/questions/{id}/rating", Handler: s.rateQuestion, Name: "rateQuestion", Tag: "experts",
			Summary: "Rate an answer from 1 to 5, once (its asker).", Auth: true, Scope: accounts.ScopeTransfers,
			Request: wire.RateRequest{}, Response: wire.Question{}, Status: http.StatusOK},

		{Method: http.MethodPost, Path: "/v1/admin/lists", Handler: s.createList, Name: "createList", Tag: "admin",
			Summary: "Make a list of experts that one question goes to, at a price per response (admin).", Auth: true,
			Scope: accounts.ScopeAdmin, Request: wire.CreateListRequest{}, Response: wire.List{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/lists", Handler: s.listLists, Name: "listLists", Tag: "lists",
			Summary: "Every list of experts, by handle, with its members by id (public).", Response: wire.ListIndex{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/lists/{list}", Handler: s.getList, Name: "getList", Tag: "lists",
			Summary: "A list of experts, by id or handle, with its members' handles and names (public).", Response: wire.List{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/lists/{list}/questions", Handler: s.askList, Name: "askList", Tag: "lists",
			Summary: "Ask every member of a list and buy a number of responses: price × responses is held on the caller's balance; each reply is paid from it, and what is left at the deadline returns.",
			Auth:    true, Scope: accounts.ScopeTransfers, MovesMoney: true, Request: wire.AskListRequest{}, Response: wire.ListQuestion{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/list-questions", Handler: s.listListQuestions, Name: "listListQuestions", Tag: "lists",
			Summary: "The list questions the caller asked, newest first, without their replies.", Auth: true, Scope: accounts.ScopeRead,
			Query: []param{
				{"status", "open, completed or expired."},
				{"cursor", "next_cursor of the previous page."}, {"limit", "Page size, 1 to 500 (default 50)."},
			},
			Response: wire.ListQuestionPage{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/list-inbox", Handler: s.listInbox, Name: "listListInbox", Tag: "lists",
			Summary: "The questions asked of the lists the caller is in, newest first, without their replies.", Auth: true, Scope: accounts.ScopeAnswer,
			Query: []param{
				{"status", "open, completed or expired."},
				{"cursor", "next_cursor of the previous page."}, {"limit", "Page size, 1 to 500 (default 50)."},
			},
			Response: wire.ListQuestionPage{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/list-questions/{id}", Handler: s.getListQuestion, Name: "getListQuestion", Tag: "lists",
			Summary: "A list question with its replies, to its asker, the members of its list or an admin.", Auth: true, Scope: accounts.ScopeRead,
			Response: wire.ListQuestion{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/list-questions/{id}/replies", Handler: s.replyListQuestion, Name: "replyListQuestion", Tag: "lists",
			Summary: "Reply to a list question once, as a member of its list: paid while responses bought are left, split into the platform fee, the member's charity share and earnings.",
			Auth:    true, Scope: accounts.ScopeAnswer, MovesMoney: true, Request: wire.ReplyRequest{}, Response: wire.ListQuestion{}, Status: http.StatusOK},

		{Method: http.MethodPost, Path: "/v1/endpoints", Handler: s.createEndpoint, Name: "createEndpoint", Tag: "endpoints",
			Summary: "Register an upstream API to sell per call through /x/{id}/…: its URL, the paths that may be called and a price per call.",
			Auth:    true, Scope: accounts.ScopeEndpoints, Request: wire.CreateEndpointRequest{}, Response: wire.Endpoint{}, Status: http.StatusCreated},
		{Method: http.MethodGet, Path: "/v1/endpoints", Handler: s.listEndpoints, Name: "listEndpoints", Tag: "endpoints",
			Summary: "The caller's endpoints, newest first.", Auth: true, Scope: accounts.ScopeRead, Response: wire.EndpointList{}, Status: http.StatusOK},
		{Method: http.MethodGet, Path: "/v1/endpoints/{id}", Handler: s.getEndpoint, Name: "getEndpoint", Tag: "endpoints",
			Summary:  "An active endpoint's price and the paths it serves (public; the upstream is shown to its owner only).",
			Response: wire.Endpoint{}, Status: http.StatusOK},
		{Method: http.MethodPost, Path: "/v1/endpoints/{id}/disable", Handler: s.disableEndpoint, Name: "disableEndpoint", Tag: "endpoints",
			Summary: "Stop selling an endpoint's calls (its owner).", Auth: true, Scope: accounts.ScopeEndpoints,
			Response: wire.Endpoint{}, Status: http.StatusOK},
		{Methods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
			Path: "/x/{endpoint}/{path}", Tail: true, Handler: s.proxyEndpoint, Name: "callEndpoint", Tag: "endpoints",
			Summary: "Call a provider's endpoint, paid per call: without a credential, 402 offers an L402/LSAT token and a Payment charge for one invoice, and credits (Authorization: Bearer <API key>). The call is proxied to the upstream; it is charged only when the upstream answers below 400.",
			Priced:  s.endpointOffer, Status: http.StatusOK, Raw: "application/octet-stream"},

		{Method: http.MethodPost, Path: "/v1/admin/credits", Handler: s.adminCredit, Name: "createAdminCredit", Tag: "admin",
			Summary: "Credit an account from outside Stipend, recorded as an admin credit (admin).", Auth: true,
			Scope: accounts.ScopeAdmin, MovesMoney: true,
			Request: wire.AdminCreditRequest{}, Response: wire.Transaction{}, Status: http.StatusCreated},
	}
}

// echoPath turns /v1/keys/{id} into echo's /v1/keys/:id, and the last parameter of a Tail
// route into echo's *.
func echoPath(p string, tail bool) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			parts[i] = ":" + s[1:len(s)-1]
		}
	}
	if tail {
		parts[len(parts)-1] = "*"
	}
	return strings.Join(parts, "/")
}

// methods returns the methods a route is served under.
func (r route) methods() []string {
	if len(r.Methods) > 0 {
		return r.Methods
	}
	return []string{r.Method}
}
