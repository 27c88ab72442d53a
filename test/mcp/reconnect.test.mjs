// PostgreSQL restarts under the agents (each official SDK client): calls
// during the outage are tool errors at once, not hangs; then intracker-mcp
// reconnects, authenticates again, LISTENs again, and a followed resource
// is announced again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { SDKS, tokenOf, ok, env, until, restartPostgres } from './lib.mjs';

// A connection the server lost: 08006 (lost), 57P01 (terminated), 57P03 (starting up).
const OUTAGE = /^(08006|08001|57P01|57P03)$/;

describe('PostgreSQL restarts', () => {
	for (const sdk of SDKS) {
		it(`${sdk.name}: errors meanwhile, then calls and announcements work again`, async (t) => {
			const project = JSON.parse(env('MCP_PROJECTS')).reconnect;
			const uri = `intracker://projects/${project}/resume-context`;
			const [ann, bob] = await Promise.all([sdk.connect(tokenOf('ann')), sdk.connect(tokenOf('bob'))]);
			t.after(() => Promise.all([ann.close(), bob.close()]));	// a failure too ends the servers
			const updates = [];
			ann.onUpdated((updated) => updates.push(updated));
			const stop = await ann.follow(uri);
			// both servers have started (a 2.x client connects without a handshake)
			await Promise.all([ok(ann, 'list_projects'), ok(bob, 'list_projects')]);

			restartPostgres();

			// every call answers at once: an outage error, or (reconnected) the result
			const outcomes = [];
			await until(async () => {
				const result = await ann.call({ name: 'list_projects', arguments: {} });
				outcomes.push(result.isError ? result._meta['intracker/error'].sqlstate : 'ok');
				return !result.isError;
			}, 30000, 'a call to succeed after the restart');
			for (const outcome of outcomes.slice(0, -1)) assert.match(outcome, OUTAGE);
			await until(async () => !(await bob.call({ name: 'list_projects', arguments: {} })).isError, 30000, 'bob');

			// the listening connection is back too
			updates.length = 0;
			await ok(bob, 'create_todo', { project_id: project, title: `After the restart (${sdk.era})` });
			await until(() => updates.includes(uri), 10000, 'the announcement after the restart');
			await stop();
		});
	}
});
