package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cyxwiz/central-server/projections"
)

// Payments: one row per job's payment (projections.PaymentView), folded
// in Go by projections.ApplyPayment in the batch's transaction like every
// other view, and written with one upsert per batch.

const paymentColumns = `job_id, status, amount, lamports, payer, node_id, payee, payout_lamports, fee_lamports,
	refund_lamports, escrow_signature, signature, reason, created_at, updated_at, settled_at, opened_position,
	revision, position`

// upsertPayments writes the rows of paymentCols.
const upsertPayments = `INSERT INTO payments (` + paymentColumns + `)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::int8[],
	$9::int8[], $10::int8[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[],
	$16::timestamptz[], $17::int8[], $18::int8[], $19::int8[])
ON CONFLICT (job_id) DO UPDATE SET status = EXCLUDED.status, amount = EXCLUDED.amount, lamports = EXCLUDED.lamports,
	payer = EXCLUDED.payer, node_id = EXCLUDED.node_id, payee = EXCLUDED.payee,
	payout_lamports = EXCLUDED.payout_lamports, fee_lamports = EXCLUDED.fee_lamports,
	refund_lamports = EXCLUDED.refund_lamports, escrow_signature = EXCLUDED.escrow_signature,
	signature = EXCLUDED.signature, reason = EXCLUDED.reason, created_at = EXCLUDED.created_at,
	updated_at = EXCLUDED.updated_at, settled_at = EXCLUDED.settled_at, opened_position = EXCLUDED.opened_position,
	revision = EXCLUDED.revision, position = EXCLUDED.position`

// paymentWork is a payment during a batch.
type paymentWork struct {
	v       projections.PaymentView
	known   bool
	changed bool
}

// paymentCols are payment rows as column arrays.
type paymentCols struct {
	job, status, payer, node, payee, escrowSig, sig, reason []string
	amount                                                  []float64
	lamports, payout, fee, refund                           []int64
	created, updated, settled                               []*time.Time
	opened, revision, position                              []int64
}

func (c *paymentCols) args() []any {
	return []any{c.job, c.status, c.amount, c.lamports, c.payer, c.node, c.payee, c.payout, c.fee, c.refund,
		c.escrowSig, c.sig, c.reason, c.created, c.updated, c.settled, c.opened, c.revision, c.position}
}

// lamports converts an amount to a bigint column; no real amount comes
// close (all the SOL there is fits 15 times over).
func lamports(v uint64, what, job string) (int64, error) {
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("payment %s: %s %d lamports out of range", job, what, v)
	}
	return int64(v), nil
}

func (c *paymentCols) add(v *projections.PaymentView) error {
	l, err1 := lamports(v.Lamports, "amount", v.JobID)
	p, err2 := lamports(v.PayoutLamports, "payout", v.JobID)
	f, err3 := lamports(v.FeeLamports, "fee", v.JobID)
	r, err4 := lamports(v.RefundLamports, "refund", v.JobID)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return err
		}
	}
	c.job, c.status, c.payer = append(c.job, text(v.JobID)), append(c.status, text(v.Status)), append(c.payer, text(v.Payer))
	c.node, c.payee = append(c.node, text(v.NodeID)), append(c.payee, text(v.Payee))
	c.escrowSig, c.sig, c.reason = append(c.escrowSig, text(v.EscrowSignature)), append(c.sig, text(v.Signature)), append(c.reason, text(v.Reason))
	c.amount = append(c.amount, v.Amount)
	c.lamports, c.payout, c.fee, c.refund = append(c.lamports, l), append(c.payout, p), append(c.fee, f), append(c.refund, r)
	c.created, c.updated, c.settled = append(c.created, ts(v.CreatedAt)), append(c.updated, ts(v.UpdatedAt)), append(c.settled, ts(v.SettledAt))
	c.opened = append(c.opened, int64(v.OpenedPosition))
	c.revision, c.position = append(c.revision, int64(v.Revision)), append(c.position, int64(v.Position))
	return nil
}

// scanPayment reads a row of paymentColumns, after the columns of
// before (scanned into the pointers given).
func scanPayment(row pgx.Row, before ...any) (projections.PaymentView, error) {
	var v projections.PaymentView
	var l, p, f, r, opened, rev, pos int64
	var created, updated, settled *time.Time
	dest := append(before, &v.JobID, &v.Status, &v.Amount, &l, &v.Payer, &v.NodeID, &v.Payee, &p, &f, &r,
		&v.EscrowSignature, &v.Signature, &v.Reason, &created, &updated, &settled, &opened, &rev, &pos)
	if err := row.Scan(dest...); err != nil {
		return v, fmt.Errorf("read payment: %w", err)
	}
	v.Lamports, v.PayoutLamports, v.FeeLamports, v.RefundLamports = uint64(l), uint64(p), uint64(f), uint64(r)
	v.CreatedAt, v.UpdatedAt, v.SettledAt = fromTS(created), fromTS(updated), fromTS(settled)
	v.OpenedPosition, v.Revision, v.Position = uint64(opened), uint64(rev), uint64(pos)
	return v, nil
}

func normPayment(v *projections.PaymentView) {
	v.CreatedAt, v.UpdatedAt, v.SettledAt = norm(v.CreatedAt), norm(v.UpdatedAt), norm(v.SettledAt)
}

// readPayments fills w.payments (keyed by the batch's ids) from their
// stored rows.
func readPayments(ctx context.Context, tx pgx.Tx, w *batchWork, payments storedIDs) error {
	return payments.read(ctx, tx, "payments", `SELECT `+paymentColumns+` FROM payments WHERE job_id = ANY($1)`, func(row pgx.Row) error {
		v, err := scanPayment(row)
		if err != nil {
			return err
		}
		if pw := w.payments[payments.byStored[v.JobID]]; pw != nil {
			pw.v, pw.known = v, true
		}
		return nil
	})
}

// foldPayment folds e, a payment event of job, into the batch's work.
func (w *batchWork) foldPayment(job string, e *projections.Envelope) {
	pw := w.payments[job]
	if opens := projections.OpensPayment(e.Event); pw.known == opens {
		return // an event of a payment never opened, or a stream opened twice
	}
	if !pw.changed {
		pw.changed = true
		w.payOrder = append(w.payOrder, job)
	}
	pw.known = true
	projections.ApplyPayment(&pw.v, *e)
	normPayment(&pw.v)
}

// queuePayments adds the batch's payment rows to b.
func (w *batchWork) queuePayments(b *pgx.Batch) error {
	if len(w.payOrder) == 0 {
		return nil
	}
	var c paymentCols
	for _, id := range w.payOrder {
		if err := c.add(&w.payments[id].v); err != nil {
			return err
		}
	}
	b.Queue(upsertPayments, c.args()...)
	return nil
}

// ListPayments implements projections.PaymentQueries: newest first (by
// updated_at, then job id), up to limit (a page size,
// projections.PageSize), updated before before (zero: from the newest).
func (m *Model) ListPayments(ctx context.Context, status string, limit int, before time.Time) ([]projections.PaymentView, error) {
	if err := projections.CheckPaymentStatus(status); err != nil {
		return nil, err
	}
	if err := m.checkReady(); err != nil {
		return nil, err
	}
	var w where
	if status != "" {
		w.add("status = ?", status)
	}
	if !before.IsZero() {
		w.add("updated_at < ?", ceilMicro(before))
	}
	w.args = append(w.args, projections.PageSize(limit))
	rows, err := m.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments`+
		w.sql()+` ORDER BY updated_at DESC, job_id COLLATE "C" DESC LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	if err != nil {
		return nil, fmt.Errorf("postgres read model: payments: %w", err)
	}
	defer rows.Close()
	out := []projections.PaymentView{}
	for rows.Next() {
		v, err := scanPayment(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres read model: payments: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres read model: payments: %w", err)
	}
	return out, nil
}

// walletEntries selects a wallet's history (projections.InWalletHistory)
// as (role, payment) rows: role 0 payer, 1 payee.
const walletEntries = `SELECT 0 AS role, ` + paymentColumns + ` FROM payments WHERE payer = $1 AND status <> 'skipped'
	UNION ALL SELECT 1 AS role, ` + paymentColumns + ` FROM payments WHERE payee = $1`

// WalletPayments implements projections.WalletQueries: the page and the
// total in one snapshot.
func (m *Model) WalletPayments(ctx context.Context, wallet string, limit, offset int) ([]projections.WalletPayment, int, error) {
	if err := projections.CheckOffset(offset); err != nil {
		return nil, 0, err
	}
	if err := m.checkReady(); err != nil {
		return nil, 0, err
	}
	out := []projections.WalletPayment{}
	if wallet == "" {
		return out, 0, nil
	}
	wallet = text(wallet)
	var total int64
	err := pgx.BeginTxFunc(ctx, m.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (`+walletEntries+`) e`, wallet).Scan(&total); err != nil {
			return err
		}
		if int64(offset) >= total {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT * FROM (`+walletEntries+`) e ORDER BY opened_position DESC, role LIMIT $2 OFFSET $3`,
			wallet, projections.PageSize(limit), int64(offset))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var role int32
			v, err := scanPayment(rows, &role)
			if err != nil {
				return err
			}
			out = append(out, projections.WalletPayment{Role: projections.PaymentRole(role), Payment: v})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres read model: wallet payments: %w", err)
	}
	return out, int(total), nil
}
