package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
)

// paymentLimit is how many of the newest payments the Blockchain view reads.
const paymentLimit = 200

type chainView struct {
	c        *Console
	root     *tview.Flex
	info     *tview.TextView
	payments *tview.Table
}

func newChainView(c *Console) *chainView {
	v := &chainView{c: c}
	v.info = tview.NewTextView().SetDynamicColors(true).SetWrap(true)
	v.info.SetBorder(true).SetTitle(" ESCROW ").SetTitleAlign(tview.AlignLeft)
	v.payments = tview.NewTable().SetFixed(1, 0).SetSelectable(true, false)
	v.payments.SetBorder(true).SetTitle(" PAYOUTS AND REFUNDS ").SetTitleAlign(tview.AlignLeft)
	v.root = tview.NewFlex().SetDirection(tview.FlexRow).AddItem(v.info, 8, 0, false).AddItem(v.payments, 0, 1, true)
	v.info.SetText("loading…")
	return v
}

func (v *chainView) title() string                          { return "Blockchain" }
func (v *chainView) primitive() tview.Primitive             { return v.root }
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

func (v *chainView) showChain(ch Chain) {
	var b strings.Builder
	field := func(k, val string) {
		if val != "" {
			fmt.Fprintf(&b, "[gray]%-10s[-] %s\n", k, val)
		}
	}
	if !ch.Enabled {
		field("Network", colored("disabled"))
		field("Solana", colored(ch.Status))
		b.WriteString("\n" + tview.Escape(`blockchain disabled — set [blockchain] network = "devnet" (or localnet, mainnet-beta) in config.toml, or CYXWIZ_BLOCKCHAIN_NETWORK, to settle payments on Solana`) + "\n")
	} else {
		field("Network", tview.Escape(ch.Network))
		field("Solana", colored(ch.Status))
		field("RPC", tview.Escape(ch.RPC))
		field("Escrow", tview.Escape(ch.Escrow))
		field("Treasury", tview.Escape(ch.Treasury))
		field("Fee", fmt.Sprintf("%d%% platform fee", ch.FeePercent))
	}
	if ch.Note != "" {
		b.WriteString("[gray]" + tview.Escape(ch.Note) + "[-]\n")
	}
	v.info.SetText(strings.TrimSuffix(b.String(), "\n"))
}

func (v *chainView) showPayments(ps []Payment, ch Chain) {
	t := v.payments
	t.Clear()
	for i, h := range []string{"UPDATED", "JOB", "STATUS", "AMOUNT", "PAYEE", "SIGNATURE"} {
		t.SetCell(0, i, tview.NewTableCell(h).SetSelectable(false).SetAttributes(tcell.AttrBold))
	}
	if len(ps) == 0 {
		msg := "no payments yet — a job with payment_amount and escrow_tx_hash settles here when it completes, fails or is cancelled"
		if !ch.Enabled {
			msg = "no payments yet — settlement is off (blockchain disabled)"
		}
		emptyTable(t, msg)
		return
	}
	for i, p := range ps {
		r := i + 1
		t.SetCell(r, 0, tview.NewTableCell(stamp(p.UpdatedAt)))
		t.SetCell(r, 1, tview.NewTableCell(shortID(p.JobID)))
		t.SetCell(r, 2, tview.NewTableCell(p.Status).SetTextColor(tcellColor(p.Status)))
		t.SetCell(r, 3, tview.NewTableCell(fmt.Sprintf("%g", p.Amount)).SetAlign(tview.AlignRight))
		t.SetCell(r, 4, tview.NewTableCell(tview.Escape(p.Payee)).SetMaxWidth(14))
		t.SetCell(r, 5, tview.NewTableCell(tview.Escape(p.Signature)))
	}
}
