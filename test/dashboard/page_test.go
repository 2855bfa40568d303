package dashboard

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// page is one tab in a browser context of its own (its own storage), with
// every console error, uncaught exception, failed load and dialog recorded.
type page struct {
	t       *testing.T
	b       *browser
	session string
	target  string
	bctx    string

	mu       sync.Mutex
	problems []string
	allowed  []allowedError
	urls     []string
	headers  map[string]map[string]string // response headers by URL, names lower-cased
}

// allowedError is a failed API call a test provokes on purpose (a 400
// the wizard must show): Chromium logs it as a network error.
type allowedError struct {
	method, path string
	status       int
}

const (
	viewportW = 1280
	viewportH = 860
)

func newPage(t *testing.T) *page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := &page{t: t, b: chrome}
	var bc struct {
		BrowserContextID string `json:"browserContextId"`
	}
	if err := chrome.call(ctx, "", "Target.createBrowserContext", map[string]any{"disposeOnDetach": true}, &bc); err != nil {
		t.Fatal(err)
	}
	p.bctx = bc.BrowserContextID
	var tg struct {
		TargetID string `json:"targetId"`
	}
	if err := chrome.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "browserContextId": p.bctx}, &tg); err != nil {
		t.Fatal(err)
	}
	p.target = tg.TargetID
	var at struct {
		SessionID string `json:"sessionId"`
	}
	if err := chrome.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": p.target, "flatten": true}, &at); err != nil {
		t.Fatal(err)
	}
	p.session = at.SessionID
	chrome.mu.Lock()
	chrome.pages[p.session] = p
	chrome.mu.Unlock()
	t.Cleanup(p.close)
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		p.cdp(m, nil, nil)
	}
	p.cdp("Emulation.setDeviceMetricsOverride", map[string]any{"width": viewportW, "height": viewportH, "deviceScaleFactor": 1, "mobile": false}, nil)
	return p
}

func (p *page) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = p.b.call(ctx, "", "Target.closeTarget", map[string]any{"targetId": p.target}, nil)
	_ = p.b.call(ctx, "", "Target.disposeBrowserContext", map[string]any{"browserContextId": p.bctx}, nil)
	p.b.mu.Lock()
	delete(p.b.pages, p.session)
	p.b.mu.Unlock()
}

// cdp sends a command to this page; an error fails the test.
func (p *page) cdp(method string, params, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.b.call(ctx, p.session, method, params, out); err != nil {
		p.t.Fatalf("%v\nchromium log:\n%s", err, p.b.chromiumLog())
	}
}

// event records what a test must know about; it runs on the reader
// goroutine, so it never waits for a reply.
func (p *page) event(method string, params json.RawMessage) {
	switch method {
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(params, &e) == nil && (e.Type == "error" || e.Type == "assert") {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, fmt.Sprint(a.Value, a.Description))
			}
			p.problem("console.%s: %s", e.Type, strings.Join(parts, " "))
		}
	case "Runtime.exceptionThrown":
		var e struct {
			Details struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		json.Unmarshal(params, &e)
		p.problem("uncaught: %s %s", e.Details.Text, e.Details.Exception.Description)
	case "Log.entryAdded":
		var e struct {
			Entry struct {
				Source string `json:"source"`
				Level  string `json:"level"`
				Text   string `json:"text"`
				URL    string `json:"url"`
			} `json:"entry"`
		}
		if json.Unmarshal(params, &e) != nil || e.Entry.Level != "error" {
			return
		}
		if e.Entry.Source == "network" && p.isAllowed(e.Entry.URL, e.Entry.Text) {
			return
		}
		p.problem("log %s: %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
	case "Page.javascriptDialogOpening":
		var e struct {
			Message string `json:"message"`
		}
		json.Unmarshal(params, &e)
		p.problem("a dialog opened: %q", e.Message)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = p.b.call(ctx, p.session, "Page.handleJavaScriptDialog", map[string]any{"accept": false}, nil)
		}()
	case "Network.responseReceived":
		var e struct {
			Response struct {
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
			} `json:"response"`
		}
		if json.Unmarshal(params, &e) == nil {
			h := map[string]string{}
			for k, v := range e.Response.Headers {
				h[strings.ToLower(k)] = v
			}
			p.mu.Lock()
			if p.headers == nil {
				p.headers = map[string]map[string]string{}
			}
			p.headers[e.Response.URL] = h
			p.mu.Unlock()
		}
	case "Network.requestWillBeSent":
		var e struct {
			Request struct {
				URL    string `json:"url"`
				Method string `json:"method"`
			} `json:"request"`
		}
		if json.Unmarshal(params, &e) == nil {
			p.mu.Lock()
			p.urls = append(p.urls, e.Request.Method+" "+e.Request.URL)
			p.mu.Unlock()
		}
	}
}

func (p *page) problem(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// allow declares that a call to path (method for the record) answered
// status is expected from now on.
func (p *page) allow(method, path string, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allowed = append(p.allowed, allowedError{method, path, status})
}

func (p *page) isAllowed(rawURL, text string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.allowed {
		if u.Path == a.path && strings.Contains(text, fmt.Sprintf("status of %d", a.status)) {
			return true
		}
	}
	return false
}

// checkConsole fails the test on any console error, uncaught exception,
// unexpected failed load or dialog seen so far.
func (p *page) checkConsole(where string) {
	p.t.Helper()
	p.mu.Lock()
	probs := append([]string(nil), p.problems...)
	p.mu.Unlock()
	if len(probs) > 0 {
		p.t.Fatalf("%s: the page reported errors:\n  %s", where, strings.Join(probs, "\n  "))
	}
}

// requested lists every request the page made ("METHOD url").
func (p *page) requested() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.urls...)
}

// responseHeaders are the headers the browser received for url (nil if
// it loaded no such URL).
func (p *page) responseHeaders(url string) map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.headers[url]
}

// eval runs expr (awaiting a promise) and decodes its value into out.
func (p *page) eval(expr string, out any) {
	p.t.Helper()
	if err := p.tryEval(expr, out); err != nil {
		p.t.Fatal(err)
	}
}

func (p *page) tryEval(expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := p.b.call(ctx, p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("evaluate %s: %s %s", expr, r.Exception.Text, r.Exception.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		return json.Unmarshal(r.Result.Value, out)
	}
	return nil
}

// waitFor polls a JS condition until it is truthy; on timeout it fails with
// desc and the page's main text.
func (p *page) waitFor(desc, cond string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		if err := p.tryEval("Boolean("+cond+")", &ok); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			_ = p.tryEval("document.body ? document.body.innerText : ''", &text)
			p.checkConsole("waiting for " + desc)
			p.t.Fatalf("waiting for %s: not true after %s (%s)\npage text:\n%s", desc, timeout, cond, text)
		}
		time.Sleep(100 * time.Millisecond) // poll interval of a condition, not a synchronisation
	}
}

// text is the textContent of the first element matching sel ("" if none).
func (p *page) text(sel string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ""`, js(sel)), &s)
	return s
}

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// navigate opens url and waits for the load event.
func (p *page) navigate(u string) {
	p.t.Helper()
	p.cdp("Page.navigate", map[string]any{"url": u}, nil)
	p.waitFor("document loaded", `document.readyState === "complete" && location.href !== "about:blank"`, 60*time.Second)
}

// click presses the mouse on the middle of the element, as a user does.
func (p *page) click(sel string) {
	p.t.Helper()
	p.waitFor("clickable "+sel, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e && !e.disabled && e.getClientRects().length > 0; })()`, js(sel)), 30*time.Second)
	var pt struct{ X, Y float64 }
	p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(); return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`, js(sel)), &pt)
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		p.cdp("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": pt.X, "y": pt.Y, "button": "left", "clickCount": 1}, nil)
	}
}

// fill replaces the value of an input by typing into it.
func (p *page) fill(sel, value string) {
	p.t.Helper()
	p.waitFor("input "+sel, fmt.Sprintf(`document.querySelector(%s)`, js(sel)), 30*time.Second)
	p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.focus(); e.select(); })()`, js(sel)), nil)
	p.cdp("Input.dispatchKeyEvent", map[string]any{"type": "keyDown", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8}, nil)
	p.cdp("Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8}, nil)
	if value != "" {
		p.cdp("Input.insertText", map[string]any{"text": value}, nil)
	}
	var got string
	p.eval(fmt.Sprintf(`document.querySelector(%s).value`, js(sel)), &got)
	if got != value {
		p.t.Fatalf("fill %s: value %q, want %q", sel, got, value)
	}
}

// choose selects an option of a <select> by value.
func (p *page) choose(sel, value string) {
	p.t.Helper()
	var ok bool
	p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (![...e.options].some(o => o.value === %s)) return false;
		e.value = %s; e.dispatchEvent(new Event("change", {bubbles: true})); return true; })()`, js(sel), js(value), js(value)), &ok)
	if !ok {
		p.t.Fatalf("select %s has no option %q", sel, value)
	}
}

// screenshot captures the page (full height with full) as PNG. With
// FULCRUM_SCREENSHOTS=1 it goes to docs/screenshots/<name>.png, otherwise
// to the test's temporary directory; either way it must decode as a PNG
// of the viewport's width.
func (p *page) screenshot(name string, full bool) string {
	p.t.Helper()
	params := map[string]any{"format": "png"}
	if full {
		var height float64
		p.eval(`document.documentElement.scrollHeight`, &height)
		params["captureBeyondViewport"] = true
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": viewportW, "height": min(height, 3000), "scale": 1}
	}
	var r struct {
		Data string `json:"data"`
	}
	p.cdp("Page.captureScreenshot", params, &r)
	raw, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if w := img.Bounds().Dx(); w != viewportW {
		p.t.Fatalf("screenshot %s: %d px wide, want %d", name, w, viewportW)
	}
	dir := p.t.TempDir()
	if os.Getenv("FULCRUM_SCREENSHOTS") == "1" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return path
}
