package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkServeRSS measures the memory of a real `custos serve` process:
// its resident set idle after start, and its peak (VmHWM) while 50 clients
// receive and capture small orders through the API for 30 s
// (CUSTOS_BENCH_SECONDS). Target: under 150 MiB. The baseline in the same
// run is the idle figure: the ratio is what the load adds.
func BenchmarkServeRSS(b *testing.B) {
	for b.Loop() {
		benchServeRSS(b)
	}
}

func benchServeRSS(b *testing.B) {
	bin := custosBinary(b)
	s := newFaultSetup(b, 2048)
	d := startDaemon(b, bin, s.env)
	tok := s.tokens(b, d, "intake", "custodian")
	start := procStatus(b, d.cmd.Process.Pid, "VmHWM") // the key's decryption (scrypt) is its peak
	idle := procStatus(b, d.cmd.Process.Pid, "VmRSS")
	// Reset the peak, so that VmHWM after the load is the load's.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", d.cmd.Process.Pid), []byte("5"), 0); err != nil {
		b.Fatal(err)
	}
	dur := 30 * time.Second
	if n, err := strconv.Atoi(os.Getenv("CUSTOS_BENCH_SECONDS")); err == nil && n > 0 {
		dur = time.Duration(n) * time.Second
	}
	order, _ := json.Marshal(map[string]any{
		"reference": "RSS", "authority": "Court", "requesting_state": "DE", "profile": "budapest-16",
		"legal_basis": "art. 16", "categories": []string{"content"},
		"selectors": []map[string]string{{"type": "account", "value": "acct-7"}},
	})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		captures int
		firstErr error
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
	until := time.Now().Add(dur)
	for range 50 {
		wg.Go(func() {
			for time.Now().Before(until) {
				var o struct{ ID string }
				if err := post(client, d.url+"/v1/orders", tok["intake"], order, &o); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				var j struct{ State string }
				if err := post(client, d.url+"/v1/orders/"+o.ID+"/captures?wait=60s", tok["custodian"], []byte(`{"sources":["big"]}`), &j); err != nil || j.State != "succeeded" {
					mu.Lock()
					firstErr = fmt.Errorf("capture %s: %v", j.State, err)
					mu.Unlock()
					return
				}
				mu.Lock()
				captures++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	peak := procStatus(b, d.cmd.Process.Pid, "VmHWM")
	d.stop(b)
	b.ReportMetric(float64(peak)/1024, "peak-MiB")
	b.ReportMetric(float64(idle)/1024, "idle-MiB")
	b.ReportMetric(float64(start)/1024, "startup-peak-MiB")
	b.ReportMetric(float64(peak)/float64(idle), "x-idle")
	verdict := "met"
	if peak >= 150<<10 || idle >= 150<<10 {
		verdict = "NOT met"
	}
	b.Logf("custos serve: startup peak %.1f MiB (decrypting the key); idle RSS %.1f MiB; peak RSS %.1f MiB under 50 clients for %s (%d captures, %.0f/s); %.2fx idle; target < 150 MiB: %s",
		float64(start)/1024, float64(idle)/1024, float64(peak)/1024, dur, captures, float64(captures)/dur.Seconds(), float64(peak)/float64(idle), verdict)
}

func post(c *http.Client, url, token string, body []byte, out any) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %d %s", url, res.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// procStatus reads a kB figure (VmRSS, VmHWM) of process pid.
func procStatus(b *testing.B, pid int, field string) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
