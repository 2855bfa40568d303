package apiserver

// CurrentVersion is the Octavia API version this server answers as CURRENT
// in its version document ("v2.30").
func CurrentVersion() string {
	doc := versions("")
	return doc.Versions[len(doc.Versions)-1].ID
}
