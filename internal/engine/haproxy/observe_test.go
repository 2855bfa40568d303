package haproxy

import (
	"encoding/csv"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/dataplane"
)

// parseStatSlow reads the same columns with encoding/csv alone: the reference the fast
// parser must agree with.
func parseStatSlow(s string) []statRow {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(s, "# ")))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) == 0 {
		return nil
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	get := func(rec []string, k string) string {
		if i, ok := col[k]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	num := func(rec []string, k string) int64 {
		n, _ := strconv.ParseInt(get(rec, k), 10, 64)
		return n
	}
	var out []statRow
	for _, rec := range recs[1:] {
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		out = append(out, statRow{proxy: get(rec, "pxname"), server: get(rec, "svname"), status: get(rec, "status"),
			scur: num(rec, "scur"), stot: num(rec, "stot"), bin: num(rec, "bin"), bout: num(rec, "bout"),
			ereq: num(rec, "ereq"), dreq: num(rec, "dreq"), dcon: num(rec, "dcon"), dses: num(rec, "dses"),
			econ: num(rec, "econ"), wretr: num(rec, "wretr"), wredis: num(rec, "wredis"), sslFailed: num(rec, "ssl_failed_handshake"),
			checkStatus: get(rec, "check_status"), checkCode: get(rec, "check_code"), lastChk: get(rec, "last_chk"), checkDesc: get(rec, "check_desc")})
	}
	return out
}

const statSample = `# pxname,svname,qcur,scur,stot,bin,bout,dreq,ereq,econ,wretr,wredis,status,check_status,check_code,dcon,dses,last_chk,check_desc,-,ssl_failed_handshake,
fe_l1,FRONTEND,,3,17,1200,3400,1,2,,,,OPEN,,,4,0,,,-,5,
be_l1.p1,m1,0,1,9,,,,,2,1,3,UP,L7OK,200,,,,Layer7 check passed,-,,
be_l1.p1,m2,0,0,0,,,,,0,0,0,DOWN,L4CON,,,,"Connection refused, twice",Layer4 connection problem,-,,
`

func TestParseStat(t *testing.T) {
	rows, err := parseStat(statSample)
	if err != nil {
		t.Fatal(err)
	}
	want := []statRow{
		{proxy: "fe_l1", server: "FRONTEND", status: "OPEN", scur: 3, stot: 17, bin: 1200, bout: 3400, dreq: 1, ereq: 2, dcon: 4, sslFailed: 5},
		{proxy: "be_l1.p1", server: "m1", status: "UP", scur: 1, stot: 9, econ: 2, wretr: 1, wredis: 3, checkStatus: "L7OK", checkCode: "200", checkDesc: "Layer7 check passed"},
		{proxy: "be_l1.p1", server: "m2", status: "DOWN", econ: 0, checkStatus: "L4CON", lastChk: "Connection refused, twice", checkDesc: "Layer4 connection problem"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got  %+v\nwant %+v", rows, want)
	}
	if !reflect.DeepEqual(rows, parseStatSlow(statSample)) {
		t.Fatal("fast and csv readings differ")
	}
	if _, err := parseStat("Unknown command\n"); err == nil {
		t.Fatal("an error answer parsed")
	}
}

// FuzzParseStat: the hand-split reading agrees with encoding/csv on every input the
// latter reads, and never panics.
func FuzzParseStat(f *testing.F) {
	f.Add(statSample)
	f.Add("# pxname,svname\nx,y\n")
	f.Add("# a,b,c\n,,,,,,\n\"q,\"\"\",x\n")
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := parseStat(s)
		if err != nil {
			return
		}
		head, _, _ := strings.Cut(s, "\n")
		if strings.ContainsAny(head, "\"\r") || strings.Contains(s, "\r") {
			return // header quoting and CR are not HAProxy's; the readings may differ
		}
		slow := parseStatSlow(s)
		if slow == nil {
			return // not CSV at all: the fast reading is best effort
		}
		if len(rows) != len(slow) {
			return // a quoted field spanning lines: encoding/csv joins them, HAProxy never writes one
		}
		for i := range rows {
			if rows[i] != slow[i] && !strings.Contains(s, "\"") {
				t.Fatalf("row %d: fast %+v, csv %+v", i, rows[i], slow[i])
			}
		}
	})
}

func TestParseProcs(t *testing.T) {
	p, err := parseProcs(`#<PID>          <type>          <reloads>       <uptime>        <version>
8923            master          3 [failed: 1]   0d00h00m08s     2.6.12-1+deb12u4
# workers
8926            worker          0               0d00h00m08s     2.6.12-1+deb12u4
# old workers
8800            worker          2               0d00h01m08s     2.6.12-1+deb12u4
# programs

`)
	if err != nil || p.master != 8923 || p.reloads != 3 || p.failed != 1 || len(p.workers) != 1 || p.workers[0] != 8926 || len(p.old) != 1 || p.old[0] != 8800 {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := parseProcs("Unknown command.\n"); err == nil {
		t.Fatal("an error answer parsed")
	}
}

func TestParseTableLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		key  string
		id   int
		ok   bool
	}{
		{"0x55647b8b1610: key=127.0.0.1 use=0 exp=359895 server_id=1 server_key=m1", "127.0.0.1", 1, true},
		{"0x1: key=::ffff:10.0.0.1 use=0 exp=1 server_id=12 server_key=-", "::ffff:10.0.0.1", 12, true},
		{"0x1: key=s0 use=0 exp=1 server_id=0 server_key=-", "", 0, false},
		{"# table: be, type: ip, size:10240, used:1", "", 0, false},
	} {
		key, id, ok := parseTableLine(tc.line)
		if key != tc.key || id != tc.id || ok != tc.ok {
			t.Errorf("%q: %q %d %v", tc.line, key, id, ok)
		}
	}
}

// TestFilterState: the state of a server is carried to the next worker while its line and
// health monitor are the same, with a new weight when only that changed, and not when its
// address, health monitor or id changed.
func TestFilterState(t *testing.T) {
	a := dataplane.Member{ID: "ma", Address: "10.0.0.1", ProtocolPort: 80, Weight: 1, AdminStateUp: true}
	b := dataplane.Member{ID: "mb", Address: "10.0.0.2", ProtocolPort: 80, Weight: 1, AdminStateUp: true}
	cfg := func(mutate func(p *dataplane.Pool)) *rendering {
		p := pool("p1", dataplane.ProtocolHTTP, dataplane.RoundRobin, a, b)
		p.HealthMonitor = &dataplane.HealthMonitor{Type: dataplane.MonitorTCP, Delay: 1, Timeout: 1, MaxRetries: 1, MaxRetriesDown: 1, AdminStateUp: true}
		if mutate != nil {
			mutate(&p)
		}
		r, err := render(&dataplane.Config{Version: 1, Listeners: []dataplane.Listener{httpListener("l1", 80, "p1")}, Pools: []dataplane.Pool{p}}, settings{Dir: "/d"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const head = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change\n"
	old := cfg(nil)
	idA, idB := old.servers["be_l1.p1"]["ma"].id, old.servers["be_l1.p1"]["mb"].id
	lineA := fmt.Sprintf("3 be_l1.p1 %d ma 10.0.0.1 0 0 %%s 40 8 2 0 6 0 0 1 - 80 - 0 0 - - 0", idA)
	state := head + fmt.Sprintf(lineA, "1 1") + "\n" + fmt.Sprintf("3 be_l1.p1 %d mb 10.0.0.2 2 0 1 1 40 15 3 4 6 0 0 1 - 80 - 0 0 - - 0\n", idB)
	for _, tc := range []struct {
		name   string
		next   *rendering
		keepA  string // the line of ma in the output, "" when dropped
		keepsB bool
	}{
		{"nothing changed", cfg(nil), fmt.Sprintf(lineA, "1 1"), true},
		{"weight of ma", cfg(func(p *dataplane.Pool) { p.Members[0].Weight = 0 }), fmt.Sprintf(lineA, "0 0"), true},
		{"address of ma", cfg(func(p *dataplane.Pool) { p.Members[0].Address = "10.0.0.9" }), "", true},
		{"health monitor", cfg(func(p *dataplane.Pool) { p.HealthMonitor.Delay = 5 }), "", false},
		{"ma in maintenance", cfg(func(p *dataplane.Pool) { p.Members[0].AdminStateUp = false }), "", true},
		{"ma removed: mb keeps its id and state", cfg(func(p *dataplane.Pool) { p.Members = p.Members[1:] }), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filterState(state, old, tc.next)
			if !strings.HasPrefix(out, head) {
				t.Fatalf("header lost: %q", out)
			}
			gotA, gotB := "", false
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, " ma ") {
					gotA = l
				}
				if strings.Contains(l, " mb ") {
					gotB = true
				}
			}
			if gotA != tc.keepA || gotB != tc.keepsB {
				t.Fatalf("ma %q (want %q), mb kept %v (want %v)", gotA, tc.keepA, gotB, tc.keepsB)
			}
		})
	}
}
