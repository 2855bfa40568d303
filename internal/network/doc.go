// Package network realises the network side of load balancers. It serves
// fulcrum's Neutron v2 subset (networks, subnets, ports with fixed IPs,
// floating IPs, QoS policies) at /networking/v2.0 with its IPAM, and
// allocates load-balancer VIPs from it (VIPs): a VIP port and address are
// allocated in the load balancer's create transaction and released in the
// transaction that removes it.
//
// Noop is the noop network mode, the equivalent of Octavia's noop network
// driver: every well-formed id is accepted and addresses are invented, so
// the API and the controller can run without any network.
package network
