package view

// The page in a real browser: headless Chromium (Debian's package) driven
// over the DevTools protocol (chromedp, a test-only dependency).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// requireBrowser is Chromium's path. Without it the test skips with a
// message naming the package, unless LVSNODE_REQUIRE_UI_TESTS=1 (CI,
// which installs it), where it fails: CI must run the browser tier.
func requireBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (apt-get install chromium): the status page's browser test needs it"
	if os.Getenv("LVSNODE_REQUIRE_UI_TESTS") == "1" {
		t.Fatal(msg + " (LVSNODE_REQUIRE_UI_TESTS=1 forbids skipping)")
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium tab that records every console error,
// uncaught exception and error log entry (failed loads, CSP violations).
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := requireBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-dev-shm-usage", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses to run as root
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Error()
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.LevelError {
				msg = fmt.Sprintf("log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errors = append(b.errors, msg)
			b.mu.Unlock()
		}
	})
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", path, err)
	}
	return b
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval runs a JavaScript expression and decodes its value into out.
func (b *browser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	b.run(t, chromedp.Evaluate(expr, out))
}

// waitFor polls a boolean JavaScript expression every 100 ms until it is
// true or the time is up.
func (b *browser) waitFor(t *testing.T, what, expr string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var ok bool
		b.eval(t, "!!("+expr+")", &ok)
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("after %s: %s (%s)", limit, what, expr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noErrors fails the test on any console error seen so far.
func (b *browser) noErrors(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		t.Errorf("browser: %s", e)
	}
}

// screenshot keeps a PNG of the page (whole, or the window's view) at
// lab/out/view/NAME (git-ignored; CI keeps lab/out as its artifact).
func (b *browser) screenshot(t *testing.T, name string, whole bool) string {
	t.Helper()
	var png []byte
	if whole {
		b.run(t, chromedp.FullScreenshot(&png, 100)) // 100: PNG (lower is JPEG)
	} else {
		b.run(t, chromedp.CaptureScreenshot(&png))
	}
	dir := filepath.Join(repoRoot(t), "lab", "out", "view")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = up
	}
}
