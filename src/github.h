/*-------------------------------------------------------------------------
 *
 * github.h
 *	  Reading GitHub's REST API answers (github.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INTRACKER_GITHUB_H
#define INTRACKER_GITHUB_H

extern bool intracker_github_created_issue(const char *answer, size_t len, int *number, char **url);

#endif							/* INTRACKER_GITHUB_H */
