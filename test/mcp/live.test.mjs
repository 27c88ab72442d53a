// Two agents working at once through each official SDK client: subscribed
// resources announced after the other agent's change (and coalesced under a
// burst), wait_for_events woken by it without holding up other calls,
// parallel claims that never meet, cancellation, read-only mode.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

import { SDKS, tokenOf, ok, fails, refused, env, until, allTools, FOREIGN_PROJECT } from './lib.mjs';

const READING_TOOLS = ['get_document', 'get_events', 'get_history', 'get_my_notifications', 'get_my_todos',
	'get_resume_context', 'get_team_context', 'get_todo', 'list_comments', 'list_documents', 'list_features',
	'list_projects', 'list_todos', 'search', 'wait_for_events'];

// The highest seq of a project's events (not notifications) so far.
async function lastSeq(client, project) {
	const { rows } = await ok(client, 'get_events', { after_seq: 0, project_id: project, max_events: 10000 });
	// notifications are their user's only: the agents compare the project's events
	const shared = rows.filter((e) => !e.type.startsWith('notification.'));
	return shared.length ? shared[shared.length - 1].seq : 0;
}

// Whether the client sees the event of an entity's creation: the publisher
// has published it (and its NOTIFY has gone out).
async function published(client, project, entityId) {
	const { rows } = await ok(client, 'get_events', { after_seq: 0, project_id: project, max_events: 10000 });
	return rows.some((e) => e.entity_id === entityId);
}

for (const sdk of SDKS) {
	describe(`two agents through ${sdk.name}`, () => {
		const project = JSON.parse(env('MCP_PROJECTS'))[`live_${sdk.era}`];
		const teamContext = `intracker://projects/${project}/team-context`;
		let ann;
		let bob;
		let updates = [];	// [uri, when] as ann's client hears them

		before(async () => {
			[ann, bob] = await Promise.all([sdk.connect(tokenOf('ann')), sdk.connect(tokenOf('bob'))]);
			ann.onUpdated((uri) => updates.push([uri, Date.now()]));
		});
		after(async () => {
			await Promise.all([ann.close(), bob.close()]);
		});

		it('a subscribed resource is announced within a second of the other agent\'s change', async () => {
			const stop = await ann.follow(teamContext);
			const before = JSON.parse((await ann.readResource({ uri: teamContext })).contents[0].text);
			updates = [];
			await ok(bob, 'create_todo', { project_id: project, title: 'Announced' });
			const changed = Date.now();
			await until(() => updates.some(([uri]) => uri === teamContext), 1000, 'notifications/resources/updated');
			const read = JSON.parse((await ann.readResource({ uri: teamContext })).contents[0].text);
			assert.notDeepEqual(read.team_progress, before.team_progress, 'a read after the announcement sees the change');
			assert.ok(updates[0][1] - changed < 1000);
			await stop();
		});

		it('a burst of changes is announced a few times, not once per event', async () => {
			const stop = await ann.follow(teamContext);
			updates = [];
			const started = Date.now();
			let last;
			for (let i = 0; i < 40; i++) last = await ok(bob, 'create_todo', { project_id: project, title: `Burst ${i}` });
			const took = Date.now() - started;
			// the last one comes within the coalescing window after the last event
			await until(async () => updates.length > 0 && await published(ann, project, last.id), 2000, 'the burst');
			await new Promise((resolve) => setTimeout(resolve, 600));
			assert.ok(updates.length >= 1, 'announced');
			assert.ok(updates.length <= Math.ceil(took / 250) + 2,
				`${updates.length} announcements for 40 events in ${took} ms (at most one per 250 ms)`);
			await stop();
		});

		it('after unsubscribing (closing the stream) nothing more is announced', async () => {
			const stop = await ann.follow(teamContext);
			await stop();
			updates = [];
			const unheard = await ok(bob, 'create_todo', { project_id: project, title: 'Unheard' });
			await until(() => published(ann, project, unheard.id), 2000, 'the event');
			await new Promise((resolve) => setTimeout(resolve, 600));
			assert.deepEqual(updates, []);
		});

		it('a project the caller is not in cannot be followed (resource not found), nor an unknown URI', async () => {
			for (const uri of [`intracker://projects/${FOREIGN_PROJECT()}/team-context`, 'intracker://nothing/here']) {
				const refusal = await refused(ann.follow(uri));
				assert.equal(refusal.code, -32602, refusal.message);
				assert.deepEqual(refusal.data, { uri });
			}
		});

		it('wait_for_events returns with the other agent\'s event; other calls run meanwhile', async () => {
			const after = await lastSeq(ann, project);
			const waiting = ann.call({ name: 'wait_for_events', arguments: { project_id: project, after_seq: after, timeout_seconds: 30 } });
			let waited = false;
			waiting.then(() => { waited = true; });
			// ann's other calls are answered while the wait is on
			const context = await ok(ann, 'get_team_context', { project_id: project });
			assert.equal(context.project.id, project);
			await ok(ann, 'list_todos', { project_id: project, max_rows: 1 });
			assert.equal(waited, false, 'the wait is still on');
			const todo = await ok(bob, 'create_todo', { project_id: project, title: 'Woke the waiter' });
			const result = await waiting;
			assert.equal(result.isError, false);
			assert.ok(result.structuredContent.rows.length >= 1);
			assert.equal(result.structuredContent.rows[0].entity_id, todo.id);
		});

		it('wait_for_events with nothing new answers no events at its timeout', async () => {
			const after = await lastSeq(ann, project);
			const started = Date.now();
			const { rows } = await ok(ann, 'wait_for_events', { project_id: project, after_seq: after + 1000, timeout_seconds: 1 });
			assert.deepEqual(rows, []);
			assert.ok(Date.now() - started >= 900, 'it waited');
		});

		it('a cancelled wait gets no answer, and the server goes on', async () => {
			const after = await lastSeq(ann, project);
			const controller = new AbortController();
			const waiting = ann.call({ name: 'wait_for_events', arguments: { project_id: project, after_seq: after, timeout_seconds: 60 } },
				{ signal: controller.signal });
			await ok(ann, 'list_projects');
			controller.abort('enough');
			await assert.rejects(waiting);
			await ok(bob, 'create_todo', { project_id: project, title: 'After the cancelled wait' });
			await ok(ann, 'list_projects');
		});

		it('a call blocked on a lock is cancelled on the server when the client aborts it', async () => {
			const todo = await ok(ann, 'create_todo', { project_id: project, title: 'Locked' });
			const locker = spawn('psql', ['-X', '-q', env('MCP_SUPERUSER_URL')], { stdio: ['pipe', 'pipe', 'inherit'] });
			let lockerOut = '';
			locker.stdout.on('data', (chunk) => { lockerOut += chunk; });
			locker.stdin.write(`BEGIN; SELECT 1 FROM intracker_data.todos WHERE id = '${todo.id}' FOR UPDATE; \\echo locked\n`);
			await until(() => lockerOut.includes('locked'), 10000, 'the lock');
			const controller = new AbortController();
			const blocked = ann.call({ name: 'update_todo', arguments: { todo_id: todo.id, changes: { title: 'never' }, expected_version: todo.version } },
				{ signal: controller.signal });
			await new Promise((resolve) => setTimeout(resolve, 200));
			controller.abort('no more waiting');
			await assert.rejects(blocked);
			// the query was cancelled: the next call runs while the lock is still held
			const context = await ok(ann, 'get_resume_context', { project_id: project });
			assert.equal(context.project.id, project);
			locker.stdin.end('ROLLBACK;\n');
			await new Promise((resolve) => locker.on('exit', resolve));
			const unchanged = await ok(ann, 'get_todo', { todo_id: todo.id });
			assert.equal(unchanged.title, 'Locked');
		});
	});
}

describe('two agents claiming from one project in parallel', () => {
	it('never get the same todo', async () => {
		const project = JSON.parse(env('MCP_PROJECTS')).claims;
		const [ann, bob] = await Promise.all([SDKS[0].connect(tokenOf('ann')), SDKS[1].connect(tokenOf('bob'))]);
		for (let i = 0; i < 30; i++) await ok(ann, 'create_todo', { project_id: project, title: `Work ${i}` });
		// claim, finish, claim the next, until nothing is left
		const claimAll = async (agent) => {
			const claimed = [];
			for (;;) {
				const { rows: [todo] } = await ok(agent, 'claim_next_todo', { project_id: project });
				if (todo === undefined) return claimed;
				assert.ok(!claimed.includes(todo.id), 'a finished todo is not claimed again');
				claimed.push(todo.id);
				await ok(agent, 'set_todo_status', { todo_id: todo.id, status: 'done', expected_version: todo.version });
			}
		};
		const [byAnn, byBob] = await Promise.all([claimAll(ann), claimAll(bob)]);
		assert.equal(byAnn.length + byBob.length, 30, 'every todo claimed');
		assert.equal(new Set([...byAnn, ...byBob]).size, 30, 'none twice');
		assert.ok(byAnn.length > 0 && byBob.length > 0, `both claimed (${byAnn.length} and ${byBob.length})`);
		await Promise.all([ann.close(), bob.close()]);
	});
});

for (const sdk of SDKS) {
	describe(`read-only through ${sdk.name}`, () => {
		for (const [label, token, args] of [['--read-only', 'ann', ['--read-only']], ['a read-only token', 'reader', []]]) {
			it(`${label}: only the reading tools, and a writing one is unknown`, async () => {
				const client = await sdk.connect(tokenOf(token), args);
				const tools = await allTools(client);
				assert.deepEqual(tools.map((t) => t.name).sort(), READING_TOOLS);
				assert.ok(tools.every((t) => t.annotations.readOnlyHint));
				const refusal = await refused(client.callTool({ name: 'create_todo', arguments: { project_id: FOREIGN_PROJECT(), title: 'x' } }));
				assert.equal(refusal.code, -32602);
				await ok(client, 'list_projects');
				await client.close();
			});
		}
	});
}
