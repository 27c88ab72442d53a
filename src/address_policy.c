/*-------------------------------------------------------------------------
 *
 * address_policy.c
 *	  The networks outgoing HTTP may not reach unless a superuser turns on
 *	  intracker.http_allow_private_networks.
 *
 * Any user can create a project and a webhook, and a GitHub call goes
 * wherever intracker.github_api_url says; without a policy the server
 * would POST on a user's behalf to its own loopback, the private network
 * around it or a cloud metadata service (SSRF).  Like GitLab's "allow
 * requests to the local network" switch, off by default, requests to the
 * addresses below are refused.
 *
 * Refused (IANA special-purpose registries, RFC 6890 and successors):
 *
 *	IPv4	0.0.0.0/8 (this network, unspecified), 10/8, 172.16/12,
 *			192.168/16 (private), 100.64/10 (shared, CGNAT), 127/8
 *			(loopback), 169.254/16 (link-local, cloud metadata), 192.0.0/24
 *			(IETF protocol assignments), 192.0.2/24, 198.51.100/24,
 *			203.0.113/24 (documentation), 192.88.99/24 (6to4 relays),
 *			198.18/15 (benchmarking), 224/4 (multicast), 240/4 (reserved,
 *			255.255.255.255 broadcast included).
 *	IPv6	::/96 (unspecified, loopback, IPv4-compatible), 100::/64
 *			(discard), 64:ff9b:1::/48 (local-use NAT64), 2001::/23 (IETF
 *			protocol assignments: Teredo, benchmarking, ORCHID),
 *			2001:db8::/32 and 3fff::/20 (documentation), fc00::/7 (unique
 *			local), fe80::/10 (link-local), fec0::/10 (site-local),
 *			ff00::/8 (multicast).
 *	Embedded IPv4: ::ffff:0:0/96 (IPv4-mapped), ::ffff:0:0:0/96
 *			(IPv4-translated), 64:ff9b::/96 (NAT64) and 2002::/16 (6to4)
 *			are judged by the IPv4 address they carry.
 *
 * Anything else, and any address family but IPv4 and IPv6, is judged by
 * this list alone: an address not on it is public.
 *
 * Where it is applied: http.c checks the address libcurl is about to
 * connect to (after name resolution, so a name that resolves to a private
 * address, DNS rebinding and an address in a redirect cannot get around
 * it), and again the address of a reused connection before each request;
 * create_webhook() refuses a URL whose host is a literal private address
 * in any form libcurl accepts (127.1, 0x7f.1, 2130706433, [::ffff:7f00:1]
 * ...).  Nothing here allocates or raises errors: the connect-time check
 * runs inside libcurl's callbacks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "address_policy.h"

/* An IPv4 network, host byte order. */
typedef struct Ipv4Net
{
	uint32		network;
	int			bits;
} Ipv4Net;

static const Ipv4Net refused_ipv4[] = {
	{0x00000000, 8},			/* 0.0.0.0/8 this network, unspecified */
	{0x0A000000, 8},			/* 10.0.0.0/8 private */
	{0x64400000, 10},			/* 100.64.0.0/10 shared address space (CGNAT) */
	{0x7F000000, 8},			/* 127.0.0.0/8 loopback */
	{0xA9FE0000, 16},			/* 169.254.0.0/16 link-local, cloud metadata */
	{0xAC100000, 12},			/* 172.16.0.0/12 private */
	{0xC0000000, 24},			/* 192.0.0.0/24 IETF protocol assignments */
	{0xC0000200, 24},			/* 192.0.2.0/24 documentation */
	{0xC0586300, 24},			/* 192.88.99.0/24 6to4 relay anycast */
	{0xC0A80000, 16},			/* 192.168.0.0/16 private */
	{0xC6120000, 15},			/* 198.18.0.0/15 benchmarking */
	{0xC6336400, 24},			/* 198.51.100.0/24 documentation */
	{0xCB007100, 24},			/* 203.0.113.0/24 documentation */
	{0xE0000000, 4},			/* 224.0.0.0/4 multicast */
	{0xF0000000, 4},			/* 240.0.0.0/4 reserved, broadcast */
};

/*
 * An IPv6 prefix; embedded_at >= 0 says that the address carries an IPv4
 * address at that byte, which is judged instead.
 */
typedef struct Ipv6Net
{
	uint8		prefix[16];
	int			bits;
	int			embedded_at;
} Ipv6Net;

static const Ipv6Net ipv6_nets[] = {
	/* carrying an IPv4 address: checked before ::/96 below */
	{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, 12},	/* ::ffff:0:0/96 mapped */
	{{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 96, 12},	/* ::ffff:0:0:0/96 translated */
	{{0, 0x64, 0xff, 0x9b}, 96, 12},	/* 64:ff9b::/96 NAT64 */
	{{0x20, 0x02}, 16, 2},		/* 2002::/16 6to4 */
	/* refused outright */
	{{0}, 96, -1},				/* ::/96 unspecified, loopback, IPv4-compatible */
	{{0, 0x64, 0xff, 0x9b, 0, 0x01}, 48, -1},	/* 64:ff9b:1::/48 local-use NAT64 */
	{{0x01, 0x00}, 64, -1},		/* 100::/64 discard-only */
	{{0x20, 0x01, 0x00, 0x00}, 23, -1},	/* 2001::/23 IETF protocol assignments */
	{{0x20, 0x01, 0x0d, 0xb8}, 32, -1},	/* 2001:db8::/32 documentation */
	{{0x3f, 0xff}, 20, -1},		/* 3fff::/20 documentation */
	{{0xfc}, 7, -1},			/* fc00::/7 unique local */
	{{0xfe, 0x80}, 10, -1},		/* fe80::/10 link-local */
	{{0xfe, 0xc0}, 10, -1},		/* fec0::/10 site-local (deprecated) */
	{{0xff}, 8, -1},			/* ff00::/8 multicast */
};

static bool
ipv4_refused(uint32 address)
{
	for (size_t i = 0; i < lengthof(refused_ipv4); i++)
	{
		uint32		mask = ~(uint32) 0 << (32 - refused_ipv4[i].bits);

		if ((address & mask) == refused_ipv4[i].network)
			return true;
	}
	return false;
}

/* Do the first bits bits of a and b agree? */
static bool
prefix_matches(const uint8 *a, const uint8 *b, int bits)
{
	int			whole = bits / 8;
	int			rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static bool
ipv6_refused(const uint8 *address)
{
	for (size_t i = 0; i < lengthof(ipv6_nets); i++)
	{
		const Ipv6Net *net = &ipv6_nets[i];

		if (!prefix_matches(address, net->prefix, net->bits))
			continue;
		if (net->embedded_at < 0)
			return true;
		return ipv4_refused(((uint32) address[net->embedded_at] << 24) |
							((uint32) address[net->embedded_at + 1] << 16) |
							((uint32) address[net->embedded_at + 2] << 8) |
							(uint32) address[net->embedded_at + 3]);
	}
	return false;
}

/*
 * Is this socket address one the policy refuses?  Families other than
 * IPv4 and IPv6 are refused too.
 */
bool
intracker_address_refused(const struct sockaddr *address)
{
	if (address->sa_family == AF_INET)
	{
		struct sockaddr_in v4;

		memcpy(&v4, address, sizeof(v4));
		return ipv4_refused(ntohl(v4.sin_addr.s_addr));
	}
	if (address->sa_family == AF_INET6)
	{
		struct sockaddr_in6 v6;

		memcpy(&v6, address, sizeof(v6));
		return ipv6_refused(v6.sin6_addr.s6_addr);
	}
	return true;
}

/*
 * The same for an address in text (libcurl's CURLINFO_PRIMARY_IP form);
 * text that is no IPv4 or IPv6 address is refused.
 */
bool
intracker_ip_text_refused(const char *ip)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (inet_pton(AF_INET, ip, &v4) == 1)
		return ipv4_refused(ntohl(v4.s_addr));
	if (inet_pton(AF_INET6, ip, &v6) == 1)
		return ipv6_refused(v6.s6_addr);
	return true;
}

/*
 * Is the host of a URL (as libcurl's URL parser returns it: IPv6 in
 * brackets, without a zone id) a literal address the policy refuses?  A
 * name is not judged here (false): what it resolves to is checked when
 * connecting.  inet_aton reads every IPv4 form libcurl accepts (127.1,
 * 0x7f.1, 017700000001, 2130706433); a trailing dot is ignored, as the
 * resolver ignores it.
 */
bool
intracker_literal_host_refused(const char *host)
{
	char		text[INET6_ADDRSTRLEN + 8];
	size_t		len = strlen(host);
	struct in_addr v4;
	struct in6_addr v6;

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
	{
		if (len - 2 >= sizeof(text))
			return false;
		memcpy(text, host + 1, len - 2);
		text[len - 2] = '\0';
		return inet_pton(AF_INET6, text, &v6) == 1 && ipv6_refused(v6.s6_addr);
	}
	if (len == 0 || len >= sizeof(text))
		return false;
	memcpy(text, host, len + 1);
	if (text[len - 1] == '.')
		text[len - 1] = '\0';
	return inet_aton(text, &v4) != 0 && ipv4_refused(ntohl(v4.s_addr));
}
