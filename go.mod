module github.com/fulcrumlb/fulcrum

go 1.26
