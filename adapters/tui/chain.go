package tui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// paymentLimit is how many of the newest payments the Blockchain view reads.
const paymentLimit = 200

// lamportsPerSOL converts the exact amounts of a Payment to SOL.
const lamportsPerSOL = 1_000_000_000

// chainView is the Blockchain view: the escrow wallet and network, the
// payments (payouts, refunds, and the skipped ones with their reason)
// newest first, and the selected payment in full (signatures, payer and
// payee, the payout's split). Enter opens the payment's job.
type chainView struct {
	c        *Console
	root     *tview.Flex
	draw     *chainRoot
	info     *tview.TextView
	payments *tview.Table
	detail   *tview.TextView

	// UI goroutine only.
	rows        []Payment
	detailLines []string // the selected payment's
}

func newChainView(c *Console) *chainView {
	v := &chainView{c: c}
	v.info = tview.NewTextView().SetDynamicColors(true).SetWrap(true)
	v.info.SetBorder(true).SetTitle(" ESCROW ").SetTitleAlign(tview.AlignLeft)
	v.payments = tview.NewTable().SetFixed(1, 0).SetSelectable(true, false)
	v.payments.SetBorder(true).SetTitle(" PAYOUTS AND REFUNDS ").SetTitleAlign(tview.AlignLeft)
	v.payments.SetSelectionChangedFunc(func(row, _ int) { v.showDetail(row) })
	v.payments.SetSelectedFunc(func(row, _ int) {
		if ref := v.payments.GetCell(row, 0).GetReference(); ref != nil {
			c.show(ViewJobs)
			c.views[ViewJobs].(*jobsView).open(ref.(string))
		}
	})
	v.detail = tview.NewTextView().SetDynamicColors(true).SetWrap(true)
	v.detail.SetBorder(true).SetTitle(" PAYMENT ").SetTitleAlign(tview.AlignLeft)
	v.root = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(v.info, 7, 0, false).
		AddItem(v.payments, 0, 1, true).
		AddItem(v.detail, 7, 0, false)
	v.draw = &chainRoot{Flex: v.root, v: v}
	v.info.SetText("loading…")
	return v
}

func (v *chainView) title() string                          { return "Blockchain" }
func (v *chainView) primitive() tview.Primitive             { return v.draw }
func (v *chainView) focus() tview.Primitive                 { return v.payments }
func (v *chainView) keys() string                           { return "" }
func (v *chainView) key(ev *tcell.EventKey) *tcell.EventKey { return ev }
func (v *chainView) back() bool                             { return false }
func (v *chainView) filter() bool                           { return false }

func (v *chainView) fetch(ctx context.Context, _ time.Time) func() {
	chain, cerr := v.c.src.Chain(ctx)
	payments, perr := v.c.src.Payments(ctx, paymentLimit)
	return func() {
		v.c.fail(errors.Join(cerr, perr))
		if cerr == nil {
			v.showChain(chain)
		}
		if perr == nil {
			v.showPayments(payments, chain)
		}
	}
}

// disabledHelp is what the view says when settlement is off.
const disabledHelp = `blockchain disabled — set [blockchain] network = "devnet" (or localnet, mainnet-beta) in config.toml, or CYXWIZ_BLOCKCHAIN_NETWORK, to settle payments on Solana`

func (v *chainView) showChain(ch Chain) {
	var lines []string
	field := func(k, val string) {
		if val != "" {
			lines = append(lines, fmt.Sprintf("[gray]%-9s[-] %s", k, val))
		}
	}
	solana := colored(ch.Status)
	if ch.Detail != "" {
		solana += "  " + tview.Escape(ch.Detail)
	}
	wrapped := 0 // lines the long ones take beyond one, at 80 columns
	switch {
	case !ch.Enabled && ch.Network == "":
		field("Network", "unknown")
		field("Solana", solana)
	case !ch.Enabled:
		field("Network", colored("disabled"))
		field("Solana", solana)
		lines = append(lines, tview.Escape(disabledHelp))
		wrapped += 2
	default:
		network := tview.Escape(ch.Network)
		if ch.Confirmation != "" {
			network += "  [gray]settles at[-] " + tview.Escape(ch.Confirmation)
		}
		field("Network", network)
		field("Solana", solana)
		field("Escrow", tview.Escape(ch.Escrow))
		treasury := tview.Escape(ch.Treasury)
		if ch.Treasury != "" || ch.FeePercent > 0 {
			treasury += fmt.Sprintf("  [gray]platform fee[-] %d%%", ch.FeePercent)
		}
		field("Treasury", treasury)
		field("RPC", tview.Escape(ch.RPC))
	}
	if ch.Note != "" {
		lines = append(lines, "[gray]"+tview.Escape(ch.Note)+"[-]")
		wrapped += len(ch.Note) / 78
	}
	v.info.SetText(strings.Join(lines, "\n"))
	v.root.ResizeItem(v.info, len(lines)+wrapped+2, 0)
}

// sol renders lamports as SOL, without trailing zeros.
func sol(lamports uint64) string {
	return solText(float64(lamports) / lamportsPerSOL)
}

func solText(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// shortAddr abbreviates a base58 address or signature as explorers do,
// "4vJ9…Yq3f" (the details show it whole).
func shortAddr(s string) string {
	if len(s) <= 13 {
		return s
	}
	return s[:6] + "…" + s[len(s)-4:]
}

// to is where a payment's money goes: the node's wallet for a payout, the
// payer's for a refund.
func (p *Payment) to() string {
	if p.Payee != "" {
		return p.Payee
	}
	if p.RefundLamports > 0 {
		return p.Payer
	}
	return ""
}

func (v *chainView) showPayments(ps []Payment, ch Chain) {
	t := v.payments
	selected := ""
	if r, _ := t.GetSelection(); r > 0 && r <= len(v.rows) {
		selected = v.rows[r-1].JobID
	}
	v.rows = ps
	t.Clear()
	counts := map[string]int{}
	for _, p := range ps {
		counts[p.Status]++
	}
	title := " PAYOUTS AND REFUNDS "
	var parts []string
	for _, s := range []string{"released", "refunded", "failed", "release_submitted", "refund_submitted", "funded", "skipped"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(parts) > 0 {
		newest := ""
		if len(ps) >= paymentLimit {
			newest = fmt.Sprintf(" of the newest %d", paymentLimit)
		}
		title = fmt.Sprintf(" PAYOUTS AND REFUNDS: %s%s ", strings.Join(parts, " · "), newest)
	}
	t.SetTitle(title)
	if len(ps) == 0 {
		v.detailLines = nil
		msg := "no payments yet — a job with payment_amount and escrow_tx_hash settles here when it completes, fails or is cancelled"
		if !ch.Enabled && ch.Network != "" {
			msg = "no payments yet — settlement is off (blockchain disabled): paid jobs are listed here as skipped"
		}
		emptyTable(t, msg)
		v.detail.SetText("")
		return
	}
	for i, h := range []string{"UPDATED", "JOB", "STATUS", "SOL", "PAYEE", "SIGNATURE", "REASON"} {
		t.SetCell(0, i, tview.NewTableCell(h).SetSelectable(false).SetAttributes(tcell.AttrBold))
	}
	row := 1
	for i := range ps {
		p := &ps[i]
		r := i + 1
		if p.JobID == selected {
			row = r
		}
		t.SetCell(r, 0, tview.NewTableCell(shortStamp(p.UpdatedAt)).SetReference(p.JobID))
		t.SetCell(r, 1, tview.NewTableCell(shortID(p.JobID)))
		t.SetCell(r, 2, tview.NewTableCell(p.Status).SetTextColor(tcellColor(p.Status)))
		t.SetCell(r, 3, tview.NewTableCell(solText(p.Amount)).SetAlign(tview.AlignRight))
		t.SetCell(r, 4, tview.NewTableCell(tview.Escape(shortAddr(p.to()))))
		t.SetCell(r, 5, tview.NewTableCell(tview.Escape(shortAddr(p.Signature))))
		t.SetCell(r, 6, tview.NewTableCell(tview.Escape(p.Reason)).SetTextColor(tcell.ColorGray))
	}
	t.Select(row, 0)
	v.showDetail(row)
}

// showDetail shows the payment of table row r in full.
func (v *chainView) showDetail(r int) {
	if r < 1 || r > len(v.rows) {
		v.detail.SetText("")
		v.detailLines = nil
		return
	}
	p := &v.rows[r-1]
	var lines []string
	field := func(k, val string) {
		lines = append(lines, fmt.Sprintf("[gray]%-9s[-] %s", k, val))
	}
	head := tview.Escape(p.JobID) + "  " + colored(p.Status)
	if !p.SettledAt.IsZero() {
		head += "  [gray]settled[-] " + clock(p.SettledAt)
	} else if !p.UpdatedAt.IsZero() {
		head += "  [gray]updated[-] " + clock(p.UpdatedAt)
	}
	field("Job", head)
	if p.Signature != "" {
		field("Signature", tview.Escape(p.Signature))
	}
	switch {
	case p.Payee != "":
		payout := sol(p.PayoutLamports) + " SOL [gray]to[-] " + tview.Escape(p.Payee)
		if p.NodeID != "" {
			payout += " [gray](node " + shortID(p.NodeID) + ")[-]"
		}
		payout += fmt.Sprintf(" + %s SOL [gray]fee[-]", sol(p.FeeLamports))
		field("Payout", payout)
	case p.RefundLamports > 0:
		field("Refund", sol(p.RefundLamports)+" SOL [gray]to[-] "+tview.Escape(p.Payer))
	}
	if p.Reason != "" {
		field("Reason", tview.Escape(p.Reason))
	}
	amount := solText(p.Amount) + " SOL"
	if p.Payer != "" {
		amount += " [gray]from[-] " + tview.Escape(p.Payer)
	}
	if p.Status == "skipped" {
		amount += "  [gray](never escrowed)[-]"
	}
	field("Amount", amount)
	if p.EscrowSignature != "" {
		field("Deposit", tview.Escape(p.EscrowSignature))
	}
	v.detail.SetText(strings.Join(lines, "\n"))
	v.detail.ScrollToBeginning()
	v.detailLines = lines
}

// chainRoot sizes the payment's box before each draw: as tall as its lines
// wrap to at the current width (signatures are 88 characters), at most
// half of what the escrow box leaves, so that the table keeps rows.
type chainRoot struct {
	*tview.Flex
	v *chainView
}

func (r *chainRoot) Draw(screen tcell.Screen) {
	v := r.v
	_, _, w, h := r.GetRect()
	width := max(w-2, 1)
	rows := 0
	for _, l := range v.detailLines {
		rows += max(1, (tview.TaggedStringWidth(l)+width-1)/width)
	}
	_, _, _, info := v.info.GetRect()
	v.root.ResizeItem(v.detail, max(min(rows+2, (h-info)/2), 7), 0)
	r.Flex.Draw(screen)
}
