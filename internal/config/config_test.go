package config

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fulcrum.yaml")
	os.WriteFile(file, []byte("# comment\nlisten: 127.0.0.1:1111\ndata-dir: /from/file # trailing\nworkers: 7\nresync: 2s\ndebug: true\n"), 0o600)
	cases := []struct {
		name        string
		args        []string
		env         map[string]string
		listen, dir string
		workers     int
		resync      time.Duration
		debug       bool
		cidrs       []string
	}{
		{"defaults", nil, nil, "127.0.0.1:9876", "./fulcrum-data", 4, time.Second, false, []string{"127.0.0.0/8"}},
		{"file", []string{"--config", file}, nil, "127.0.0.1:1111", "/from/file", 7, 2 * time.Second, true, []string{"127.0.0.0/8"}},
		{"env over file", []string{"--config", file}, map[string]string{"FULCRUM_LISTEN": "127.0.0.1:2222", "FULCRUM_CIDRS": "10.0.0.0/8, ::1/128"}, "127.0.0.1:2222", "/from/file", 7, 2 * time.Second, true, []string{"10.0.0.0/8", "::1/128"}},
		{"flags over env", []string{"--config", file, "--listen", "127.0.0.1:3333", "--debug=false"}, map[string]string{"FULCRUM_LISTEN": "127.0.0.1:2222"}, "127.0.0.1:3333", "/from/file", 7, 2 * time.Second, false, []string{"127.0.0.0/8"}},
		{"config from env", nil, map[string]string{"FULCRUM_CONFIG": file}, "127.0.0.1:1111", "/from/file", 7, 2 * time.Second, true, []string{"127.0.0.0/8"}},
		{"bare bool flag", []string{"--debug"}, nil, "127.0.0.1:9876", "./fulcrum-data", 4, time.Second, true, []string{"127.0.0.0/8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var listen, dataDir string
			var workers int
			var resync time.Duration
			var debug bool
			var cidrs []string
			s := New("test")
			s.String(&listen, "listen", "127.0.0.1:9876", "")
			s.String(&dataDir, "data-dir", "./fulcrum-data", "")
			s.Int(&workers, "workers", 4, "")
			s.Duration(&resync, "resync", time.Second, "")
			s.Bool(&debug, "debug", false, "")
			s.List(&cidrs, "cidrs", []string{"127.0.0.0/8"}, "")
			err := s.Load(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if listen != tc.listen || dataDir != tc.dir || workers != tc.workers || resync != tc.resync || debug != tc.debug || len(cidrs) != len(tc.cidrs) || cidrs[0] != tc.cidrs[0] {
				t.Errorf("got listen=%s dir=%s workers=%d resync=%s debug=%v cidrs=%v", listen, dataDir, workers, resync, debug, cidrs)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("nope: 1\n"), 0o600)
	cases := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown file key", []string{"--config", bad}, nil},
		{"missing file", []string{"--config", filepath.Join(dir, "missing")}, nil},
		{"bad int flag", []string{"--workers", "x"}, nil},
		{"bad env", nil, map[string]string{"FULCRUM_WORKERS": "x"}},
		{"unknown flag", []string{"--bogus"}, nil},
		{"stray argument", []string{"extra"}, nil},
	}
	for _, tc := range cases {
		var workers int
		s := New("test")
		s.Int(&workers, "workers", 4, "")
		if err := s.Load(tc.args, func(k string) string { return tc.env[k] }, io.Discard); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestChanged(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fulcrum.yaml")
	os.WriteFile(file, []byte("zone: from-file\n"), 0o600)
	cases := []struct {
		name      string
		args      []string
		env       map[string]string
		zone, grp bool
		zoneValue string
	}{
		{"defaults", nil, nil, false, false, "def"},
		{"flag to the default value", []string{"--zone", "def"}, nil, true, false, "def"},
		{"flag to empty", []string{"--zone="}, nil, true, false, ""},
		{"environment", nil, map[string]string{"FULCRUM_GROUP": "g"}, false, true, "def"},
		{"file", []string{"--config", file}, nil, true, false, "from-file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var zone, group string
			s := New("test")
			s.String(&zone, "zone", "def", "")
			s.String(&group, "group", "", "")
			if err := s.Load(tc.args, func(k string) string { return tc.env[k] }, io.Discard); err != nil {
				t.Fatal(err)
			}
			if s.Changed("zone") != tc.zone || s.Changed("group") != tc.grp || zone != tc.zoneValue {
				t.Errorf("Changed(zone)=%v Changed(group)=%v zone=%q; want %v %v %q", s.Changed("zone"), s.Changed("group"), zone, tc.zone, tc.grp, tc.zoneValue)
			}
			if s.Changed("unknown") {
				t.Error("Changed of an unknown setting is true")
			}
		})
	}
}
