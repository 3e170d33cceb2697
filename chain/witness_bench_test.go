package chain_test

import (
	"context"
	"testing"
	"time"

	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/chain/witnesstest"
)

// BenchmarkPublishWitnessed times one checkpoint: an append, then Publish,
// without witnesses and with two (Ed25519 and ML-DSA-44, both needed)
// run in this process. The difference is what witnessing costs a log per
// checkpoint, at most once per checkpoint_interval (2 s by default):
// never per item.
func BenchmarkPublishWitnessed(b *testing.B) {
	for _, tc := range []struct {
		name      string
		witnesses bool
	}{{"witnesses=0", false}, {"witnesses=2", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			cfg := chain.Config{Dir: b.TempDir(), Origin: testOrigin, Signer: testSigner(b, 1),
				CheckpointInterval: time.Hour, BatchMaxAge: time.Millisecond}
			if tc.witnesses {
				ws, err := witnesstest.Both(mustVerifier(b, 1))
				if err != nil {
					b.Fatal(err)
				}
				for _, w := range ws {
					defer w.Close()
				}
				p, err := chain.ParseWitnessPolicy(witnesstest.Policy(2, ws...))
				if err != nil {
					b.Fatal(err)
				}
				cfg.Witnesses = &chain.WitnessConfig{Policy: p}
			}
			l, err := chain.Open(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(ctx)
			i := 0
			for b.Loop() {
				if _, err := l.Append(ctx, noteEvent(orderA, i)); err != nil {
					b.Fatal(err)
				}
				if _, err := l.Publish(ctx); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
