package apiserver

import "strconv"

// CurrentVersion is the Octavia API version this server answers as CURRENT
// in its version document ("v2.30").
func CurrentVersion() string {
	return "v2." + strconv.Itoa(len(versionDates())-1)
}
