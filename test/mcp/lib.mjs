// Helpers of the MCP client tests: the two official SDK clients connected to
// intracker-mcp, and what the tests read from a tool's result.
//
// The environment comes from test/t/026_mcp_sdk_clients.pl, which starts the
// cluster and makes the users and tokens:
//   INTRACKER_MCP             the binary under test
//   INTRACKER_DATABASE_URL    libpq connection string (as tracker_agent)
//   MCP_TOKEN_ANN / _BOB      API tokens of two agents, members of MCP_PROJECT
//   MCP_TOKEN_READER          a read-only token of ann
//   MCP_PROJECT               a project both are in; MCP_FOREIGN_PROJECT one they are not in
//   PG_CTL, PG_DATA, PG_LOG   to restart the server (the reconnect test)
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';

import { Client as Client1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as Stdio1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as Client2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as Stdio2 } from '@modelcontextprotocol/client/stdio';

export const env = (name) => {
	const value = process.env[name];
	if (value === undefined) throw new Error(`${name} is not set: run this through test/t/026_mcp_sdk_clients.pl`);
	return value;
};

export const PROJECT = () => env('MCP_PROJECT');
export const FOREIGN_PROJECT = () => env('MCP_FOREIGN_PROJECT');

function serverParams(token, args) {
	return {
		command: env('INTRACKER_MCP'),
		args,
		env: { INTRACKER_DATABASE_URL: env('INTRACKER_DATABASE_URL'), INTRACKER_TOKEN: token },
		stderr: 'pipe',
	};
}

// The two clients under test: the 1.x SDK (initialize handshake, 2025 era)
// and the 2.x client negotiating the stateless revision 2026-07-28.  Each
// connected client gets the same few methods, whatever its SDK's spelling:
//   client.call(params, options)   tools/call (options: { signal })
//   client.onUpdated(fn)           fn(uri) at each notifications/resources/updated
//   client.follow(uri)             resources/subscribe, or a subscriptions/listen
//                                  stream; resolves to a function that stops it
export const SDKS = [
	{
		name: 'sdk 1.x (initialize)',
		era: 'legacy',
		async connect(token, args = []) {
			const client = new Client1({ name: 'intracker-test-1', version: '1.0.0' }, { capabilities: {} });
			await client.connect(new Stdio1(serverParams(token, args)));
			client.call = (params, options) => client.callTool(params, undefined, options);
			client.onUpdated = (fn) => client.setNotificationHandler(ResourceUpdatedNotificationSchema,
				(notification) => fn(notification.params.uri));
			client.follow = async (uri) => {
				await client.subscribeResource({ uri });
				return () => client.unsubscribeResource({ uri });
			};
			return client;
		},
	},
	{
		name: 'client 2.x (2026-07-28)',
		era: 'modern',
		async connect(token, args = []) {
			const client = new Client2({ name: 'intracker-test-2', version: '2.0.0' },
				{ capabilities: {}, versionNegotiation: { mode: 'auto' } });
			await client.connect(new Stdio2(serverParams(token, args)));
			client.call = (params, options) => client.callTool(params, options);
			client.onUpdated = (fn) => client.setNotificationHandler('notifications/resources/updated',
				(notification) => fn(notification.params.uri));
			client.follow = async (uri) => {
				const stream = await client.listen({ resourceSubscriptions: [uri] });
				assert.deepEqual(stream.honoredFilter.resourceSubscriptions, [uri], 'the stream honours the URI');
				return () => stream.close();
			};
			return client;
		},
	},
];

export const tokenOf = (who) => env({ ann: 'MCP_TOKEN_ANN', bob: 'MCP_TOKEN_BOB', reader: 'MCP_TOKEN_READER' }[who]);

// A tool call that must succeed: its structuredContent.
export async function ok(client, name, args = {}, options) {
	const result = await client.call({ name, arguments: args }, options);
	assert.equal(result.isError, false, `${name} failed: ${result.content?.[0]?.text}`);
	assert.equal(typeof result.content[0].text, 'string', `${name}: the JSON as text content too`);
	return result.structuredContent;
}

// A tool call that must fail as a tool result: its SQL error
// ({sqlstate, message, detail, hint}, from _meta) and text.
export async function fails(client, name, args = {}) {
	const result = await client.call({ name, arguments: args });
	assert.equal(result.isError, true, `${name} should have failed: ${result.content?.[0]?.text}`);
	assert.equal(result.structuredContent, undefined, 'an error is not the tool\'s output');
	return { ...result._meta['intracker/error'], text: result.content[0].text };
}

// Every tool, following tools/list's pages.
export async function allTools(client) {
	const tools = [];
	let cursor;
	do {
		const page = await client.listTools(cursor === undefined ? {} : { cursor });
		tools.push(...page.tools);
		cursor = page.nextCursor;
	} while (cursor !== undefined);
	return tools;
}

// A request that must be refused as a JSON-RPC error: the error.
export async function refused(promise) {
	try {
		await promise;
	} catch (error) {
		return error;
	}
	assert.fail('the request should have been refused');
}

// Wait until condition() holds, polling (no fixed sleep); fails after ms.
export async function until(condition, ms, what) {
	const deadline = Date.now() + ms;
	while (!(await condition())) {
		if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 20));
	}
}

export function restartPostgres() {
	execFileSync(env('PG_CTL'), ['-D', env('PG_DATA'), '-l', env('PG_LOG'), '-m', 'fast', '-w', 'restart'],
		{ stdio: 'ignore' });
}
