package network

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// TestListWhereLongLists checks that lists longer than the store is asked
// for at once (storeValues) select exactly what the same conditions select
// on a short list, computed here by hand.
func TestListWhereLongLists(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	// 30 networks; network i has tags "t<j>" for every j dividing i.
	var nets []*neutron.Network
	err := st.Update(ctx, func(tx store.Tx) error {
		for i := 1; i <= 30; i++ {
			n := &neutron.Network{ID: fmt.Sprintf("n%02d", i), Name: fmt.Sprintf("name%02d", i), Times: neutron.Times{CreatedAt: time.Unix(int64(i), 0)}}
			for j := 1; j <= i; j++ {
				if i%j == 0 {
					n.Tags = append(n.Tags, fmt.Sprintf("t%d", j))
				}
			}
			nets = append(nets, n)
			if err := tx.Networks().Create(ctx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pad := func(real []string, n int) []string { // real values, then n-len(real) that match nothing
		out := slices.Clone(real)
		for i := len(out); i < n; i++ {
			out = append(out, fmt.Sprintf("none%04d", i))
		}
		return out
	}
	has := func(n *neutron.Network, tag string) bool { return slices.Contains(n.Tags, tag) }
	long := 3*storeValues + 7
	tests := []struct {
		name  string
		query string
		want  func(n *neutron.Network) bool
	}{
		{"ids", "id=" + strings.Join(pad([]string{"n03", "n17", "n30"}, long), "&id="), func(n *neutron.Network) bool {
			return n.ID == "n03" || n.ID == "n17" || n.ID == "n30"
		}},
		{"ids and names", "id=" + strings.Join(pad([]string{"n03", "n17", "n30"}, long), "&id=") + "&name=" + strings.Join(pad([]string{"name17", "name30"}, long), "&name="),
			func(n *neutron.Network) bool { return n.ID == "n17" || n.ID == "n30" }},
		{"long and short", "id=" + strings.Join(pad([]string{"n03", "n17"}, long), "&id=") + "&name=name17", func(n *neutron.Network) bool { return n.ID == "n17" }},
		{"tags-any", "tags-any=" + strings.Join(pad([]string{"t7", "t13"}, long), ","), func(n *neutron.Network) bool { return has(n, "t7") || has(n, "t13") }},
		{"not-tags-any", "not-tags-any=" + strings.Join(pad([]string{"t2", "t3"}, long), ","), func(n *neutron.Network) bool { return !has(n, "t2") && !has(n, "t3") }},
		{"tags, all present", "tags=t1,t2,t3,t5", func(n *neutron.Network) bool { return n.ID == "n30" }},
		{"tags, long", "tags=" + strings.Join(pad([]string{"t1", "t2"}, long), ","), func(*neutron.Network) bool { return false }},
		{"not-tags, long", "not-tags=" + strings.Join(pad([]string{"t1"}, long), ","), func(*neutron.Network) bool { return true }},
		{"not-tags, long and present at each end", "not-tags=t1," + strings.Join(pad(nil, long), ",") + ",t2", func(*neutron.Network) bool { return true }},
		{"repeated values", "id=" + strings.Repeat("n05&id=", long) + "n06", func(n *neutron.Network) bool { return n.ID == "n05" || n.ID == "n06" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v2.0/networks?"+tc.query, nil)
			lq, err := parseList(r, networkResource.filters)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = st.View(ctx, func(tx store.Tx) error {
				list, err := listWhere(ctx, tx.Networks(), networkResource.id, lq)
				for _, n := range list {
					got = append(got, n.ID)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, n := range nets {
				if tc.want(n) {
					want = append(want, n.ID)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("query %.80s…: got %v, want %v", tc.query, got, want)
			}
		})
	}
}

func TestTooManyParameters(t *testing.T) {
	q := "name=x&" + strings.Repeat("a=1&", 10000)
	_, err := parseList(httptest.NewRequest("GET", "/v2.0/networks?"+q, nil), networkResource.filters)
	if e, ok := err.(*Error); !ok || e.Code != 400 || !strings.Contains(e.Message, "10000") {
		t.Errorf("10,001 parameters: got %v, want a 400 naming the limit", err)
	}
	_, err = parseList(httptest.NewRequest("GET", "/v2.0/networks?name=%zz", nil), networkResource.filters)
	if e, ok := err.(*Error); !ok || e.Code != 400 {
		t.Errorf("bad escape: got %v, want a 400", err)
	}
	if _, err := parseList(httptest.NewRequest("GET", "/v2.0/networks?"+url.Values{"name": {"a"}}.Encode(), nil), networkResource.filters); err != nil {
		t.Errorf("plain query: %v", err)
	}
}
