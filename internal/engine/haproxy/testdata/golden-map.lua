-- Rendered by fulcrum's haproxy engine. Do not edit.
local lbs = {
  [0] = { id = "lb-1", listeners = {
    { id = "3f1d2c1a-0000-4000-8000-000000000001", fe = "fe_3f1d2c1a-0000-4000-8000-000000000001", limit = 1000, base = { 0, 0, 0, 0 } },
    { id = "listener-prom", fe = "fe_listener-prom", limit = 0, base = { 7, 0, 0, 0 } },
    { id = "listener-tls", fe = "fe_listener-tls", limit = 0, base = { 0, 0, 0, 0 } },
  }, pools = {
    { id = "pool-api", primary = "be_3f1d2c1a-0000-4000-8000-000000000001.pool-api", backends = { "be_3f1d2c1a-0000-4000-8000-000000000001.pool-api", "be_listener-tls.pool-api", }, members = {
      { id = "m-api", srv = "m-api", backup = false, admin = true, mon = true, weight = 1, base = { 0, 0 } },
    } },
    { id = "pool-web", primary = "be_3f1d2c1a-0000-4000-8000-000000000001.pool-web", backends = { "be_3f1d2c1a-0000-4000-8000-000000000001.pool-web", "be_listener-tls.pool-web", }, members = {
      { id = "m-1", srv = "m-1", backup = false, admin = true, mon = true, weight = 1, base = { 0, 0 } },
      { id = "m-2", srv = "m-2", backup = false, admin = true, mon = true, weight = 0, base = { 0, 0 } },
      { id = "m-3", srv = "m-3", backup = false, admin = false, mon = false, weight = 1, base = { 0, 0 } },
      { id = "m-backup", srv = "m-backup", backup = true, admin = true, mon = true, weight = 1, base = { 0, 0 } },
    } },
  } },
}
