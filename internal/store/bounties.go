package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/bounties"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
)

var _ bounties.Store = (*Store)(nil)

// Ledger kinds of bounties.
const (
	kindBountyFund      = "bounty_fund"
	kindBountyPayment   = "bounty_payment"
	kindBountyRefund    = "bounty_refund"
	kindBountyUnclaimed = "bounty_unclaimed"
	kindBountyClaimed   = "bounty_claimed"
)

const bountyColumns = `id, sponsor_id, kind, title, description, link, asset, reward, fee_per_unit, fee_bps, units, units_paid,
	approval, claim_window, status, deadline, created_at, updated_at, closed_at`

func scanBounty(row interface{ Scan(...any) error }) (*bounties.Bounty, error) {
	var b bounties.Bounty
	var asset string
	var window, deadline, created, updated int64
	var closed sql.NullInt64
	if err := row.Scan(&b.ID, &b.SponsorID, &b.Kind, &b.Title, &b.Description, &b.Link, &asset, &b.Reward.Value, &b.FeePerUnit,
		&b.FeeBPS, &b.Units, &b.UnitsPaid, &b.Approval, &window, &b.Status, &deadline, &created, &updated, &closed); err != nil {
		return nil, err
	}
	b.Reward.Asset = ledger.Asset(asset)
	b.ClaimWindow = time.Duration(window) * time.Microsecond
	b.Deadline, b.CreatedAt, b.UpdatedAt, b.ClosedAt = fromMicros(deadline), fromMicros(created), fromMicros(updated), fromNullMicros(closed)
	return &b, nil
}

func (s *Store) bountyWhere(ctx context.Context, q querier, id string) (*bounties.Bounty, error) {
	b, err := scanBounty(q.QueryRow(ctx, `SELECT `+bountyColumns+` FROM bounties WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no bounty %s", id)
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT account_id FROM bounty_reviewers WHERE bounty_id = ? ORDER BY account_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		b.Reviewers = append(b.Reviewers, r)
	}
	return b, rows.Err()
}

// Bounty implements bounties.Store.
func (s *Store) Bounty(ctx context.Context, id string) (*bounties.Bounty, error) {
	return s.bountyWhere(ctx, s.db, id)
}

// lockOpenBounty takes the row lock of an open bounty, so that everything that pays from or
// changes its escrow runs one at a time, and returns the bounty.
// Returns ENOTFOUND and ECONFLICT (not open).
func (s *Store) lockOpenBounty(ctx context.Context, tx *db.Tx, id string) (*bounties.Bounty, error) {
	res, err := tx.Exec(ctx, `UPDATE bounties SET updated_at = ? WHERE id = ? AND status = 'open'`, s.nowMicros(), id)
	if err != nil {
		return nil, err
	}
	b, err := s.bountyWhere(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, stipend.Errorf(stipend.ECONFLICT, "bounty %s is %s", id, b.Status)
	}
	return b, nil
}

// fund moves units' rewards and fees from the sponsor into the bounty's escrow.
func (s *Store) fund(ctx context.Context, tx *db.Tx, b *bounties.Bounty, units int, key string) error {
	rewards, fees, err := bounties.Cost(b.Reward.Value, b.FeePerUnit, units)
	if err != nil {
		return err
	}
	t := ledger.Transfer(key, kindBountyFund, ledger.AccountAddress(b.SponsorID), bounties.EscrowAddress(b.ID),
		ledger.Amount{Value: rewards + fees, Asset: b.Reward.Asset})
	t.CreatedBy = b.SponsorID
	t.Metadata = map[string]string{"bounty_id": b.ID, "units": strconv.Itoa(units),
		"rewards": strconv.FormatInt(rewards, 10), "fees": strconv.FormatInt(fees, 10)}
	_, _, err = s.post(ctx, tx, t, "")
	return err
}

// replayedBounty returns the bounty a funding transaction of key made, if there is one.
func (s *Store) replayedBounty(ctx context.Context, tx *db.Tx, key string) (*bounties.Bounty, error) {
	t, _, err := s.transactionByKey(ctx, tx, key)
	if err != nil {
		return nil, err
	}
	return s.bountyWhere(ctx, tx, t.Metadata["bounty_id"])
}

// CreateBounty implements bounties.Store.
func (s *Store) CreateBounty(ctx context.Context, b *bounties.Bounty, key string) (*bounties.Bounty, error) {
	var out *bounties.Bounty
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if prev, err := s.replayedBounty(ctx, tx, key); err == nil {
			out = prev
			return nil
		} else if stipend.ErrorCode(err) != stipend.ENOTFOUND {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO bounties (id, sponsor_id, kind, title, description, link, asset, reward, fee_per_unit,
			fee_bps, units, units_paid, approval, claim_window, status, deadline, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 'open', ?, ?, ?)`,
			b.ID, b.SponsorID, b.Kind, b.Title, b.Description, b.Link, string(b.Reward.Asset), b.Reward.Value, b.FeePerUnit,
			b.FeeBPS, b.Units, b.Approval, b.ClaimWindow.Microseconds(), b.Deadline.UnixMicro(), b.CreatedAt.UnixMicro(), b.UpdatedAt.UnixMicro())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "no account %s", b.SponsorID)
		}
		if err != nil {
			return err
		}
		for _, r := range b.Reviewers {
			_, err := tx.Exec(ctx, `INSERT INTO bounty_reviewers (bounty_id, account_id) VALUES (?, ?)`, b.ID, r)
			if db.IsForeignKeyViolation(err) {
				return stipend.Errorf(stipend.ENOTFOUND, "reviewers: no account %s", r)
			}
			if err != nil {
				return err
			}
		}
		if err := s.fund(ctx, tx, b, b.Units, key); err != nil {
			return err
		}
		if _, _, err := enqueue(ctx, tx, s.now().UTC(), jobs.NewJob{Kind: bounties.JobExpire, Payload: bounties.ExpireJob{BountyID: b.ID},
			UniqueKey: bounties.JobExpire + ":" + b.ID, RunAt: b.Deadline, MaxAttempts: 1000}); err != nil {
			return err
		}
		out, err = s.bountyWhere(ctx, tx, b.ID)
		return err
	})
	return out, err
}

// likePattern escapes s for a LIKE pattern with ESCAPE '\'.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// Bounties implements bounties.Store.
func (s *Store) Bounties(ctx context.Context, f bounties.Filter) ([]bounties.Bounty, string, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 500:
		return nil, "", stipend.Errorf(stipend.EINVALID, "limit: must be between 1 and 500")
	}
	where, args := []string{"1 = 1"}, []any{}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.SponsorID != "" {
		where, args = append(where, "sponsor_id = ?"), append(args, f.SponsorID)
	}
	for _, word := range strings.Fields(f.Query) {
		p := likePattern(word)
		where, args = append(where, `(LOWER(title) LIKE ? ESCAPE '\' OR LOWER(description) LIKE ? ESCAPE '\')`), append(args, p, p)
	}
	if f.Cursor != "" {
		if !validID(f.Cursor, "bnt_") {
			return nil, "", stipend.Errorf(stipend.EINVALID, "cursor: not a cursor this API returned")
		}
		where, args = append(where, "id < ?"), append(args, f.Cursor)
	}
	args = append(args, limit+1)
	rows, err := s.db.Query(ctx, `SELECT id FROM bounties WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, "", err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	out := make([]bounties.Bounty, 0, len(ids))
	for _, id := range ids {
		b, err := s.Bounty(ctx, id)
		if err != nil {
			return nil, "", err
		}
		out = append(out, *b)
	}
	return out, next, nil
}

// TopUp implements bounties.Store.
func (s *Store) TopUp(ctx context.Context, id string, units int, key string) (*bounties.Bounty, error) {
	var out *bounties.Bounty
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, _, err := s.transactionByKey(ctx, tx, key); err == nil {
			var err error
			out, err = s.bountyWhere(ctx, tx, id)
			return err
		}
		b, err := s.lockOpenBounty(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE bounties SET units = units + ? WHERE id = ?`, units, id); err != nil {
			return err
		}
		if err := s.fund(ctx, tx, b, units, key); err != nil {
			return err
		}
		out, err = s.bountyWhere(ctx, tx, id)
		return err
	})
	return out, err
}

// Close implements bounties.Store.
func (s *Store) Close(ctx context.Context, id, status string) (*bounties.Bounty, error) {
	var out *bounties.Bounty
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		now := s.nowMicros()
		res, err := tx.Exec(ctx, `UPDATE bounties SET status = ?, closed_at = ?, updated_at = ? WHERE id = ? AND status = 'open'`,
			status, now, now, id)
		if err != nil {
			return err
		}
		b, err := s.bountyWhere(ctx, tx, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return stipend.Errorf(stipend.ECONFLICT, "bounty %s is %s", id, b.Status)
		}
		if _, err := tx.Exec(ctx, `UPDATE bounty_claims SET status = 'released' WHERE bounty_id = ? AND status = 'active'`, id); err != nil {
			return err
		}
		left, err := balanceIn(ctx, tx, bounties.EscrowAddress(id), b.Reward.Asset)
		if err != nil {
			return err
		}
		if left > 0 {
			t := ledger.Transfer("bounty:"+id+":refund", kindBountyRefund, bounties.EscrowAddress(id), ledger.AccountAddress(b.SponsorID),
				ledger.Amount{Value: left, Asset: b.Reward.Asset})
			t.Metadata = map[string]string{"bounty_id": id, "reason": status}
			if _, _, err := s.post(ctx, tx, t, ""); err != nil {
				return err
			}
		}
		out = b
		return nil
	})
	return out, err
}

// balanceIn reads an account's balance in one asset inside tx.
func balanceIn(ctx context.Context, q querier, address string, asset ledger.Asset) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT balance FROM ledger_balances WHERE address = ? AND asset = ?`, address, string(asset)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// pendingRange bounds the addresses of a bounty's pending accounts, "pending:<id>:<login>",
// for an index range scan: ';' sorts right after ':'.
func pendingRange(bountyID string) (string, string) {
	return "pending:" + bountyID + ":", "pending:" + bountyID + ";"
}

// movePending moves the whole balance of a pending account to address, with the row locked
// first so that a link and a return racing for it cannot both take it. It reports the amount.
func (s *Store) movePending(ctx context.Context, tx *db.Tx, from, to string, asset ledger.Asset, key, kind string, meta map[string]string) (int64, error) {
	if _, err := tx.Exec(ctx, `UPDATE ledger_balances SET balance = balance WHERE address = ? AND asset = ?`, from, string(asset)); err != nil {
		return 0, err
	}
	v, err := balanceIn(ctx, tx, from, asset)
	if err != nil || v <= 0 {
		return 0, err
	}
	t := ledger.Transfer(key, kind, from, to, ledger.Amount{Value: v, Asset: asset})
	t.Metadata = meta
	if _, _, err := s.post(ctx, tx, t, ""); err != nil {
		return 0, err
	}
	return v, nil
}

// ReturnUnclaimed implements bounties.Store.
func (s *Store) ReturnUnclaimed(ctx context.Context, id string) (int64, error) {
	var total int64
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		total = 0
		b, err := s.bountyWhere(ctx, tx, id)
		if err != nil {
			return err
		}
		if b.Status == bounties.Open {
			return stipend.Errorf(stipend.ECONFLICT, "bounty %s is still open", id)
		}
		lo, hi := pendingRange(id)
		rows, err := tx.Query(ctx, `SELECT address FROM ledger_balances WHERE address >= ? AND address < ? AND asset = ? AND balance > 0
			ORDER BY address`, lo, hi, string(b.Reward.Asset))
		if err != nil {
			return err
		}
		var addrs []string
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return err
			}
			addrs = append(addrs, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range addrs {
			login := strings.TrimPrefix(a, lo)
			v, err := s.movePending(ctx, tx, a, ledger.AccountAddress(b.SponsorID), b.Reward.Asset,
				"bounty:"+id+":unclaimed:"+login, kindBountyUnclaimed, map[string]string{"bounty_id": id, "github_login": login})
			if err != nil {
				return err
			}
			total += v
		}
		return nil
	})
	return total, err
}

// uploadKey is the ledger key of the payment for the results an upload paid: unique for the
// bounty and the set of (run, test) pairs, each of which can be paid once only anyway.
func uploadKey(bountyID string, paid []bounties.Result) string {
	h := sha256.New()
	for _, r := range paid {
		h.Write([]byte(r.RunID + "\x00" + r.Test + "\x00"))
	}
	return "ci:" + bountyID + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// activeClaims counts a bounty's claims that still reserve a unit.
func (s *Store) activeClaims(ctx context.Context, tx *db.Tx, id string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM bounty_claims WHERE bounty_id = ? AND status = 'active' AND expires_at > ?`,
		id, s.nowMicros()).Scan(&n)
	return n, err
}

// inChunks runs fn on successive parts of n items, small enough for one statement's
// placeholders on both databases.
func inChunks(n, size int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += size {
		if err := fn(lo, min(lo+size, n)); err != nil {
			return err
		}
	}
	return nil
}

// links returns the accounts linked to the given GitHub logins.
func (s *Store) links(ctx context.Context, tx *db.Tx, logins []string) (map[string]string, error) {
	out := map[string]string{}
	err := inChunks(len(logins), 500, func(lo, hi int) error {
		args := make([]any, 0, hi-lo)
		for _, l := range logins[lo:hi] {
			args = append(args, l)
		}
		rows, err := tx.Query(ctx, `SELECT login, account_id FROM github_links WHERE login IN (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l, a string
			if err := rows.Scan(&l, &a); err != nil {
				return err
			}
			out[l] = a
		}
		return rows.Err()
	})
	return out, err
}

// reported returns which (run, test) pairs of the given runs a bounty has recorded already.
// The bounty's row lock keeps the answer true until the transaction ends.
func (s *Store) reported(ctx context.Context, tx *db.Tx, id string, runs []string) (map[[2]string]bool, error) {
	out := map[[2]string]bool{}
	err := inChunks(len(runs), 500, func(lo, hi int) error {
		args := []any{id}
		for _, r := range runs[lo:hi] {
			args = append(args, r)
		}
		rows, err := tx.Query(ctx, `SELECT run_id, test FROM bounty_results WHERE bounty_id = ? AND run_id IN (`+placeholders(hi-lo)+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var run, test string
			if err := rows.Scan(&run, &test); err != nil {
				return err
			}
			out[[2]string{run, test}] = true
		}
		return rows.Err()
	})
	return out, err
}

// pay moves one unit out of escrow: the reward to a contributor's account and the unit's fee
// to the platform.
func (s *Store) pay(ctx context.Context, tx *db.Tx, b *bounties.Bounty, to, key string, meta map[string]string) (*ledger.Transaction, error) {
	return s.payMany(ctx, tx, b, map[string]int{to: 1}, key, meta)
}

// payMany moves units out of escrow in one transaction: to each destination its number of
// rewards, and each unit's fee to the platform.
func (s *Store) payMany(ctx context.Context, tx *db.Tx, b *bounties.Bounty, units map[string]int, key string, meta map[string]string) (*ledger.Transaction, error) {
	asset := b.Reward.Asset
	total := 0
	t := ledger.NewTransaction{Key: key, Kind: kindBountyPayment, Metadata: meta}
	for to, n := range units {
		t.Entries = append(t.Entries, ledger.Entry{Address: to, Asset: asset, Amount: int64(n) * b.Reward.Value})
		total += n
	}
	rewards, fees, err := bounties.Cost(b.Reward.Value, b.FeePerUnit, total)
	if err != nil {
		return nil, err
	}
	t.Entries = append(t.Entries, ledger.Entry{Address: bounties.EscrowAddress(b.ID), Asset: asset, Amount: -(rewards + fees)})
	if fees > 0 {
		t.Entries = append(t.Entries, ledger.Entry{Address: ledger.FeesAddress, Asset: asset, Amount: fees})
	}
	posted, _, err := s.post(ctx, tx, t, "")
	return posted, err
}

// RecordResults implements bounties.Store. An upload costs a few statements, not a few per
// result: the recorded pairs are read once, the payments of the whole upload are one ledger
// transaction (one entry per contributor), and the results are inserted in batches.
func (s *Store) RecordResults(ctx context.Context, id string, rs []bounties.Result, reporter string) ([]bounties.Verdict, error) {
	var out []bounties.Verdict
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		out = make([]bounties.Verdict, len(rs))
		b, err := s.lockOpenBounty(ctx, tx, id)
		if err != nil {
			return err
		}
		claimed, err := s.activeClaims(ctx, tx, id)
		if err != nil {
			return err
		}
		left := b.Units - b.UnitsPaid - claimed
		var logins, runs []string
		seenLogin, seenRun := map[string]bool{}, map[string]bool{}
		for _, r := range rs {
			if !seenLogin[r.Contributor] {
				seenLogin[r.Contributor] = true
				logins = append(logins, r.Contributor)
			}
			if !seenRun[r.RunID] {
				seenRun[r.RunID] = true
				runs = append(runs, r.RunID)
			}
		}
		linked, err := s.links(ctx, tx, logins)
		if err != nil {
			return err
		}
		before, err := s.reported(ctx, tx, id, runs)
		if err != nil {
			return err
		}
		seen := make(map[[2]string]bool, len(rs))
		var fresh []int // indexes of the results to record
		var paid []bounties.Result
		units := map[string]int{}
		for i, r := range rs {
			v := bounties.Verdict{Result: r}
			k := [2]string{r.RunID, r.Test}
			switch {
			case seen[k]:
				v.Status, v.Reason = bounties.StatusDuplicate, "reported twice in this upload"
			case before[k]:
				v.Status, v.Reason = bounties.StatusDuplicate, "this run's result for this test was reported before"
			case r.Outcome == bounties.Fail:
				v.Status, v.Reason = bounties.StatusFailing, "the test failed"
			case r.Outcome == bounties.Skip:
				v.Status, v.Reason = bounties.StatusRejected, "a skipped test is not paid"
			case left <= 0:
				v.Status, v.Reason = bounties.StatusOverBudget, "no units are left"
			default:
				v.Status, v.Paid = bounties.StatusPaid, b.Reward.Value
				to := bounties.PendingAddress(id, r.Contributor)
				v.To = "github:" + r.Contributor
				if acct, ok := linked[r.Contributor]; ok {
					to, v.To = ledger.AccountAddress(acct), acct
				}
				units[to]++
				paid = append(paid, r)
				left--
			}
			if !seen[k] && !before[k] {
				fresh = append(fresh, i)
			}
			seen[k] = true
			out[i] = v
		}
		var txID sql.NullString
		if len(paid) > 0 {
			t, err := s.payMany(ctx, tx, b, units, uploadKey(id, paid), map[string]string{
				"bounty_id": id, "results": strconv.Itoa(len(paid)), "reported_by": reporter})
			if err != nil {
				return err
			}
			txID = sql.NullString{String: t.ID, Valid: true}
		}
		now := s.nowMicros()
		const cols = 12
		if err := inChunks(len(fresh), 400, func(lo, hi int) error {
			args := make([]any, 0, (hi-lo)*cols)
			rows := make([]string, 0, hi-lo)
			for _, i := range fresh[lo:hi] {
				v := out[i]
				var ref sql.NullString
				if v.Status == bounties.StatusPaid {
					ref = txID
				}
				rows = append(rows, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				args = append(args, id, v.RunID, v.Test, v.Outcome, v.Contributor, v.Status, v.Reason, v.DurationMS, v.URL, ref, reporter, now)
			}
			_, err := tx.Exec(ctx, `INSERT INTO bounty_results (bounty_id, run_id, test, outcome, contributor, status, reason,
				duration_ms, url, ledger_tx, reported_by, created_at) VALUES `+strings.Join(rows, ", "), args...)
			return err
		}); err != nil {
			return err
		}
		if len(paid) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE bounties SET units_paid = units_paid + ? WHERE id = ?`, len(paid), id); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// ClaimUnit implements bounties.Store.
func (s *Store) ClaimUnit(ctx context.Context, c *bounties.Claim) (*bounties.Claim, error) {
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		b, err := s.lockOpenBounty(ctx, tx, c.BountyID)
		if err != nil {
			return err
		}
		// Claims past their window reserve nothing: they are released before counting.
		if _, err := tx.Exec(ctx, `UPDATE bounty_claims SET status = 'released' WHERE bounty_id = ? AND status = 'active' AND expires_at <= ?`,
			c.BountyID, s.nowMicros()); err != nil {
			return err
		}
		active, err := s.activeClaims(ctx, tx, c.BountyID)
		if err != nil {
			return err
		}
		if b.Units-b.UnitsPaid-active <= 0 {
			return stipend.Errorf(stipend.ECONFLICT, "no unit of bounty %s is free to claim", c.BountyID)
		}
		_, err = tx.Exec(ctx, `INSERT INTO bounty_claims (id, bounty_id, account_id, status, expires_at, created_at) VALUES (?, ?, ?, 'active', ?, ?)`,
			c.ID, c.BountyID, c.AccountID, c.ExpiresAt.UnixMicro(), c.CreatedAt.UnixMicro())
		if db.IsUniqueViolation(err) {
			return stipend.Errorf(stipend.ECONFLICT, "you already hold a claim on bounty %s", c.BountyID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

const claimColumns = `id, bounty_id, account_id, status, expires_at, created_at`

func scanClaim(row interface{ Scan(...any) error }) (*bounties.Claim, error) {
	var c bounties.Claim
	var expires, created int64
	if err := row.Scan(&c.ID, &c.BountyID, &c.AccountID, &c.Status, &expires, &created); err != nil {
		return nil, err
	}
	c.ExpiresAt, c.CreatedAt = fromMicros(expires), fromMicros(created)
	return &c, nil
}

// ReleaseClaim implements bounties.Store.
func (s *Store) ReleaseClaim(ctx context.Context, bountyID, claimID, accountID string) (*bounties.Claim, error) {
	var out *bounties.Claim
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE bounty_claims SET status = 'released' WHERE id = ? AND bounty_id = ? AND account_id = ? AND status = 'active'`,
			claimID, bountyID, accountID)
		if err != nil {
			return err
		}
		c, err := scanClaim(tx.QueryRow(ctx, `SELECT `+claimColumns+` FROM bounty_claims WHERE id = ? AND bounty_id = ? AND account_id = ?`,
			claimID, bountyID, accountID))
		if errors.Is(err, sql.ErrNoRows) {
			return stipend.Errorf(stipend.ENOTFOUND, "no claim %s of yours on bounty %s", claimID, bountyID)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return stipend.Errorf(stipend.ECONFLICT, "claim %s is %s", claimID, c.Status)
		}
		out = c
		return nil
	})
	return out, err
}

const submissionColumns = `id, bounty_id, account_id, claim_id, evidence, status, reason, decided_by, ledger_tx, created_at, decided_at`

func scanSubmission(row interface{ Scan(...any) error }) (*bounties.Submission, error) {
	var sub bounties.Submission
	var claim, decidedBy, tx sql.NullString
	var created int64
	var decided sql.NullInt64
	if err := row.Scan(&sub.ID, &sub.BountyID, &sub.AccountID, &claim, &sub.Evidence, &sub.Status, &sub.Reason, &decidedBy, &tx,
		&created, &decided); err != nil {
		return nil, err
	}
	sub.ClaimID, sub.DecidedBy, sub.LedgerTx = claim.String, decidedBy.String, tx.String
	sub.CreatedAt, sub.DecidedAt = fromMicros(created), fromNullMicros(decided)
	return &sub, nil
}

// Submit implements bounties.Store.
func (s *Store) Submit(ctx context.Context, sub *bounties.Submission) (*bounties.Submission, error) {
	var out *bounties.Submission
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		if _, err := s.lockOpenBounty(ctx, tx, sub.BountyID); err != nil {
			return err
		}
		if sub.ClaimID != "" {
			res, err := tx.Exec(ctx, `UPDATE bounty_claims SET status = 'submitted'
				WHERE id = ? AND bounty_id = ? AND account_id = ? AND status = 'active' AND expires_at > ?`,
				sub.ClaimID, sub.BountyID, sub.AccountID, s.nowMicros())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return stipend.Errorf(stipend.ECONFLICT, "claim %s is not an active claim of yours on this bounty", sub.ClaimID)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO bounty_submissions (id, bounty_id, account_id, claim_id, evidence, status, reason, created_at)
			VALUES (?, ?, ?, ?, ?, 'pending', '', ?)`, sub.ID, sub.BountyID, sub.AccountID, nullString(sub.ClaimID), sub.Evidence,
			sub.CreatedAt.UnixMicro()); err != nil {
			return err
		}
		var err error
		out, err = scanSubmission(tx.QueryRow(ctx, `SELECT `+submissionColumns+` FROM bounty_submissions WHERE id = ?`, sub.ID))
		return err
	})
	return out, err
}

// Submission implements bounties.Store.
func (s *Store) Submission(ctx context.Context, bountyID, id string) (*bounties.Submission, error) {
	sub, err := scanSubmission(s.db.QueryRow(ctx, `SELECT `+submissionColumns+` FROM bounty_submissions WHERE id = ? AND bounty_id = ?`, id, bountyID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no submission %s on bounty %s", id, bountyID)
	}
	return sub, err
}

// Submissions implements bounties.Store.
func (s *Store) Submissions(ctx context.Context, bountyID string) ([]bounties.Submission, error) {
	rows, err := s.db.Query(ctx, `SELECT `+submissionColumns+` FROM bounty_submissions WHERE bounty_id = ? ORDER BY id DESC`, bountyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []bounties.Submission{}
	for rows.Next() {
		sub, err := scanSubmission(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *sub)
	}
	return out, rows.Err()
}

// Decide implements bounties.Store.
func (s *Store) Decide(ctx context.Context, bountyID, id string, approve bool, reason, decidedBy string) (*bounties.Submission, error) {
	var out *bounties.Submission
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var b *bounties.Bounty
		var err error
		if approve {
			if b, err = s.lockOpenBounty(ctx, tx, bountyID); err != nil {
				return err
			}
			if b.UnitsLeft() <= 0 {
				return stipend.Errorf(stipend.ECONFLICT, "bounty %s has no unit left to pay", bountyID)
			}
		}
		status := bounties.SubmissionRejected
		if approve {
			status = bounties.SubmissionApproved
		}
		now := s.nowMicros()
		res, err := tx.Exec(ctx, `UPDATE bounty_submissions SET status = ?, reason = ?, decided_by = ?, decided_at = ?
			WHERE id = ? AND bounty_id = ? AND status = 'pending'`, status, reason, decidedBy, now, id, bountyID)
		if err != nil {
			return err
		}
		sub, err := scanSubmission(tx.QueryRow(ctx, `SELECT `+submissionColumns+` FROM bounty_submissions WHERE id = ? AND bounty_id = ?`, id, bountyID))
		if errors.Is(err, sql.ErrNoRows) {
			return stipend.Errorf(stipend.ENOTFOUND, "no submission %s on bounty %s", id, bountyID)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return stipend.Errorf(stipend.ECONFLICT, "submission %s is already %s", id, sub.Status)
		}
		if approve {
			t, err := s.pay(ctx, tx, b, ledger.AccountAddress(sub.AccountID), "bounty:"+bountyID+":submission:"+id,
				map[string]string{"bounty_id": bountyID, "submission_id": id, "approved_by": decidedBy})
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE bounty_submissions SET ledger_tx = ? WHERE id = ?`, t.ID, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE bounties SET units_paid = units_paid + 1 WHERE id = ?`, bountyID); err != nil {
				return err
			}
			sub.LedgerTx = t.ID
		}
		if sub.ClaimID != "" {
			if _, err := tx.Exec(ctx, `UPDATE bounty_claims SET status = 'released' WHERE id = ?`, sub.ClaimID); err != nil {
				return err
			}
		}
		out = sub
		return nil
	})
	return out, err
}

// LinkGitHub implements bounties.Store.
func (s *Store) LinkGitHub(ctx context.Context, login, accountID, via string) ([]ledger.Amount, error) {
	login = strings.ToLower(login)
	var moved []ledger.Amount
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		moved = nil
		res, err := tx.Exec(ctx, `INSERT INTO github_links (login, account_id, via, linked_at) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, login, accountID, via, s.nowMicros())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "no account %s", accountID)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var owner, have string
			_ = tx.QueryRow(ctx, `SELECT account_id FROM github_links WHERE login = ?`, login).Scan(&owner)
			_ = tx.QueryRow(ctx, `SELECT login FROM github_links WHERE account_id = ?`, accountID).Scan(&have)
			switch {
			case owner != "" && owner != accountID:
				return stipend.Errorf(stipend.ECONFLICT, "GitHub login %s is linked to another account", login)
			case have != "" && have != login:
				return stipend.Errorf(stipend.ECONFLICT, "this account is already linked to GitHub login %s", have)
			}
		}
		// Every bounty's rewards pending for the login move to the account: those whose
		// deadline passed went back to their sponsors already.
		rows, err := tx.Query(ctx, `SELECT address, asset FROM ledger_balances WHERE address LIKE ? ESCAPE '\' AND balance > 0 ORDER BY address`,
			`pending:%:`+strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(login))
		if err != nil {
			return err
		}
		type pending struct{ address, asset string }
		var all []pending
		for rows.Next() {
			var p pending
			if err := rows.Scan(&p.address, &p.asset); err != nil {
				rows.Close()
				return err
			}
			all = append(all, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range all {
			if !strings.HasSuffix(p.address, ":"+login) {
				continue
			}
			bountyID := strings.TrimSuffix(strings.TrimPrefix(p.address, "pending:"), ":"+login)
			v, err := s.movePending(ctx, tx, p.address, ledger.AccountAddress(accountID), ledger.Asset(p.asset),
				"github:"+login+":"+bountyID, kindBountyClaimed, map[string]string{"bounty_id": bountyID, "github_login": login})
			if err != nil {
				return err
			}
			if v > 0 {
				moved = append(moved, ledger.Amount{Value: v, Asset: ledger.Asset(p.asset)})
			}
		}
		return nil
	})
	return moved, err
}

// GitHubLogin implements bounties.Store.
func (s *Store) GitHubLogin(ctx context.Context, accountID string) (string, error) {
	var login string
	err := s.db.QueryRow(ctx, `SELECT login FROM github_links WHERE account_id = ?`, accountID).Scan(&login)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return login, err
}

// Statement implements bounties.Store.
func (s *Store) Statement(ctx context.Context, id, cursor string, limit int) (*bounties.Statement, error) {
	b, err := s.Bounty(ctx, id)
	if err != nil {
		return nil, err
	}
	st := &bounties.Statement{Bounty: *b}
	st.FundedRewards, st.FundedFees, _ = bounties.Cost(b.Reward.Value, b.FeePerUnit, b.Units)
	st.PaidRewards, st.FeesEarned, _ = bounties.Cost(b.Reward.Value, b.FeePerUnit, b.UnitsPaid)
	escrow := bounties.EscrowAddress(id)
	lo, hi := pendingRange(id)
	asset := string(b.Reward.Asset)
	if st.Escrow, err = balanceIn(ctx, s.db, escrow, b.Reward.Asset); err != nil {
		return nil, err
	}
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(SUM(balance), 0) FROM ledger_balances WHERE address >= ? AND address < ? AND asset = ?`,
		lo, hi, asset).Scan(&st.Pending); err != nil {
		return nil, err
	}
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(SUM(-e.amount), 0) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
		WHERE e.address = ? AND t.kind = ?`, escrow, kindBountyRefund).Scan(&st.Refunded); err != nil {
		return nil, err
	}
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(SUM(-e.amount), 0) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
		WHERE e.address >= ? AND e.address < ? AND t.kind = ?`, lo, hi, kindBountyUnclaimed).Scan(&st.UnclaimedReturn); err != nil {
		return nil, err
	}
	switch {
	case limit == 0:
		limit = 50
	case limit < 0 || limit > 500:
		return nil, stipend.Errorf(stipend.EINVALID, "limit: must be between 1 and 500")
	}
	where := `id IN (SELECT transaction_id FROM ledger_entries WHERE address = ? OR (address >= ? AND address < ?))`
	args := []any{escrow, lo, hi}
	if cursor != "" {
		if !validID(cursor, "tx_") {
			return nil, stipend.Errorf(stipend.EINVALID, "cursor: not a cursor this API returned")
		}
		where += ` AND id < ?`
		args = append(args, cursor)
	}
	args = append(args, limit+1)
	rows, err := s.db.Query(ctx, `SELECT `+transactionColumns+` FROM ledger_transactions WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	var page []*ledger.Transaction
	for rows.Next() {
		t, _, err := scanTransaction(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		page = append(page, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page) > limit {
		page = page[:limit]
		st.NextCursor = page[limit-1].ID
	}
	if err := loadEntries(ctx, s.db, page); err != nil {
		return nil, err
	}
	for _, t := range page {
		st.Transactions = append(st.Transactions, *t)
	}
	return st, nil
}
