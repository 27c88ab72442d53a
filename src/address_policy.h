/*-------------------------------------------------------------------------
 *
 * address_policy.h
 *	  Which IP addresses outgoing HTTP may not reach while
 *	  intracker.http_allow_private_networks is off (address_policy.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_ADDRESS_POLICY_H
#define INTRACKER_ADDRESS_POLICY_H

#include <sys/socket.h>

/* The whole text a refused request or webhook gets: nothing about the host. */
#define INTRACKER_REFUSED_BY_POLICY \
	"refused by policy (intracker.http_allow_private_networks is off)"

extern bool intracker_address_refused(const struct sockaddr *address);
extern bool intracker_ip_text_refused(const char *ip);
extern bool intracker_literal_host_refused(const char *host);

#endif							/* INTRACKER_ADDRESS_POLICY_H */
