-- payments, as the settlement saga's payment-<job> events fill them
-- (projections.PaymentView): amounts in lamports (amount stays the escrow
-- in SOL), the node paid and the split of its payout, the deposit's
-- signature, why a payment was skipped or failed, and when it opened and
-- settled. A wallet's history (WalletService.GetTransactionHistory) lists
-- the payments it paid or was paid by, newest opened first.

-- +goose Up
ALTER TABLE payments
    ADD COLUMN lamports         bigint NOT NULL DEFAULT 0 CHECK (lamports >= 0),
    ADD COLUMN node_id          text NOT NULL DEFAULT '',
    ADD COLUMN payout_lamports  bigint NOT NULL DEFAULT 0 CHECK (payout_lamports >= 0),
    ADD COLUMN fee_lamports     bigint NOT NULL DEFAULT 0 CHECK (fee_lamports >= 0),
    ADD COLUMN refund_lamports  bigint NOT NULL DEFAULT 0 CHECK (refund_lamports >= 0),
    ADD COLUMN escrow_signature text NOT NULL DEFAULT '',
    ADD COLUMN reason           text NOT NULL DEFAULT '',
    ADD COLUMN created_at       timestamptz,
    ADD COLUMN settled_at       timestamptz,
    ADD COLUMN opened_position  bigint NOT NULL DEFAULT 0,
    ADD COLUMN revision         bigint NOT NULL DEFAULT 0;
CREATE INDEX payments_payer ON payments (payer, opened_position DESC) WHERE payer <> '';
CREATE INDEX payments_payee ON payments (payee, opened_position DESC) WHERE payee <> '';

-- +goose Down
DROP INDEX payments_payee;
DROP INDEX payments_payer;
ALTER TABLE payments
    DROP COLUMN revision,
    DROP COLUMN opened_position,
    DROP COLUMN settled_at,
    DROP COLUMN created_at,
    DROP COLUMN reason,
    DROP COLUMN escrow_signature,
    DROP COLUMN refund_lamports,
    DROP COLUMN fee_lamports,
    DROP COLUMN payout_lamports,
    DROP COLUMN node_id,
    DROP COLUMN lamports;
