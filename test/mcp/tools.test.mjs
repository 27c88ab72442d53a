// Every tool through each official SDK client: its happy path and its
// errors (SQL errors as isError results carrying the SQLSTATE, bad
// arguments as JSON-RPC errors), a PT409 surfaced and retried.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { SDKS, tokenOf, ok, fails, refused, env, allTools, until, FOREIGN_PROJECT } from './lib.mjs';

const ALL_TOOLS = ['add_comment', 'add_dependency', 'assign_feature', 'assign_todo', 'claim_next_todo',
	'create_document', 'create_feature', 'create_github_issue', 'create_todo', 'delete_comment', 'delete_document',
	'end_session', 'get_document', 'get_events', 'get_history', 'get_my_notifications', 'get_my_todos',
	'get_resume_context', 'get_team_context', 'get_todo', 'list_comments', 'list_documents', 'list_features',
	'list_projects', 'list_todos', 'mark_notifications_read', 'remove_dependency', 'search', 'set_todo_status',
	'start_session', 'update_comment', 'update_document', 'update_feature', 'update_todo', 'wait_for_events'];

for (const sdk of SDKS) {
	describe(`tools through ${sdk.name}`, () => {
		const project = JSON.parse(env('MCP_PROJECTS'))[`tools_${sdk.era}`];
		let client;
		let feature;
		let todo;
		let blocker;

		before(async () => {
			client = await sdk.connect(tokenOf('ann'));
		});
		after(async () => {
			await client.close();
		});

		it('speaks the revision of its era', () => {
			const version = client.getNegotiatedProtocolVersion?.() ?? client.transport?.protocolVersion;
			if (sdk.era === 'modern') assert.equal(version, '2026-07-28');
			else assert.equal(client.getServerVersion().name, 'intracker-mcp');
			assert.match(client.getInstructions(), /claim_next_todo/);
		});

		it('lists every tool, each with schemas and annotations', async () => {
			const tools = await allTools(client);
			assert.deepEqual(tools.map((t) => t.name).sort(), ALL_TOOLS);
			for (const tool of tools) {
				assert.equal(tool.inputSchema.type, 'object', `${tool.name}: inputSchema`);
				assert.equal(typeof tool.outputSchema, 'object', `${tool.name}: outputSchema`);
				assert.equal(typeof tool.annotations.readOnlyHint, 'boolean', `${tool.name}: readOnlyHint`);
				assert.ok(tool.description.length > 10, `${tool.name}: a description`);
			}
			const wait = tools.find((t) => t.name === 'wait_for_events');
			assert.deepEqual(wait.inputSchema.required.sort(), ['after_seq', 'project_id']);
			assert.equal(wait.inputSchema.properties.timeout_seconds.maximum, 300);
		});

		it('list_projects: the caller\'s projects', async () => {
			const { rows } = await ok(client, 'list_projects');
			assert.ok(rows.some((p) => p.id === project));
			assert.ok(!rows.some((p) => p.id === FOREIGN_PROJECT()), 'not a project the caller is not in');
		});

		it('create_feature, update_feature (a stale version is PT409, then the retry), list_features', async () => {
			feature = await ok(client, 'create_feature', { project_id: project, title: 'Login', priority: 'high' });
			assert.equal(feature.title, 'Login');
			assert.equal(feature.version, 1);
			const updated = await ok(client, 'update_feature',
				{ feature_id: feature.id, changes: { description: 'OAuth' }, expected_version: 1 });
			assert.equal(updated.version, 2);
			const stale = await fails(client, 'update_feature',
				{ feature_id: feature.id, changes: { description: 'again' }, expected_version: 1 });
			assert.equal(stale.sqlstate, 'PT409');
			assert.match(stale.text, /^PT409: /);
			assert.match(`${stale.detail} ${stale.hint}`, /\b2\b/, 'says the current version');
			const retried = await ok(client, 'update_feature',
				{ feature_id: feature.id, changes: { description: 'again' }, expected_version: 2 });
			assert.equal(retried.version, 3);
			const { rows } = await ok(client, 'list_features', { project_id: project });
			assert.ok(rows.some((f) => f.id === feature.id && f.description === 'again'));
		});

		it('create_feature in a project the caller is not in fails', async () => {
			const error = await fails(client, 'create_feature', { project_id: FOREIGN_PROJECT(), title: 'x' });
			assert.match(error.sqlstate, /^(PT404|42501)$/);
		});

		it('create_todo; list_todos with filters', async () => {
			todo = await ok(client, 'create_todo', { project_id: project, title: 'Token refresh', feature_id: feature.id,
				tags: ['auth', 'backend'], estimate: 3, priority: 'high' });
			assert.deepEqual(todo.tags, ['auth', 'backend']);
			blocker = await ok(client, 'create_todo', { project_id: project, title: 'Session store' });
			const { rows: byFeature } = await ok(client, 'list_todos', { project_id: project, feature_id: feature.id });
			assert.deepEqual(byFeature.map((t) => t.id), [todo.id]);
			const { rows: limited } = await ok(client, 'list_todos', { project_id: project, max_rows: 1 });
			assert.equal(limited.length, 1);
			const { rows: done } = await ok(client, 'list_todos', { project_id: project, status: 'done' });
			assert.equal(done.length, 0);
		});

		it('bad arguments are JSON-RPC errors, not calls', async () => {
			const wrongType = await refused(client.callTool({ name: 'create_todo', arguments: { project_id: project, title: 'x', tags: 'not-an-array' } }));
			assert.equal(wrongType.code, -32602);
			const missing = await refused(client.callTool({ name: 'create_todo', arguments: { title: 'x' } }));
			assert.equal(missing.code, -32602);
			const unknown = await refused(client.callTool({ name: 'create_todo', arguments: { project_id: project, title: 'x', colour: 'red' } }));
			assert.equal(unknown.code, -32602);
			const noTool = await refused(client.callTool({ name: 'drop_database', arguments: {} }));
			assert.equal(noTool.code, -32602);
		});

		it('add_dependency, get_todo (blockers and dependents), a cycle refused, remove_dependency', async () => {
			await ok(client, 'add_dependency', { todo_id: todo.id, blocked_by: blocker.id });
			const detail = await ok(client, 'get_todo', { todo_id: todo.id });
			assert.deepEqual(detail.blocked_by.map((b) => b.id), [blocker.id]);
			const other = await ok(client, 'get_todo', { todo_id: blocker.id });
			assert.deepEqual(other.blocks.map((d) => d.id), [todo.id]);
			const cycle = await fails(client, 'add_dependency', { todo_id: blocker.id, blocked_by: todo.id });
			assert.match(cycle.sqlstate, /^[0-9A-Z]{5}$/);
			assert.match(cycle.message, /cycle|circular/i);
			await ok(client, 'remove_dependency', { todo_id: todo.id, blocked_by: blocker.id });
			const after = await ok(client, 'get_todo', { todo_id: todo.id });
			assert.deepEqual(after.blocked_by, []);
			const unknownTodo = await fails(client, 'get_todo', { todo_id: '00000000-0000-0000-0000-000000000000' });
			assert.equal(unknownTodo.sqlstate, 'PT404');
		});

		it('update_todo: PT409 on a stale version, re-read, retry', async () => {
			const first = await ok(client, 'update_todo', { todo_id: todo.id, changes: { title: 'Token refresh v2' }, expected_version: todo.version });
			const stale = await fails(client, 'update_todo', { todo_id: todo.id, changes: { title: 'lost' }, expected_version: todo.version });
			assert.equal(stale.sqlstate, 'PT409');
			const current = await ok(client, 'get_todo', { todo_id: todo.id });
			assert.equal(current.version, first.version);
			const retried = await ok(client, 'update_todo', { todo_id: todo.id, changes: { title: 'Token refresh v3' }, expected_version: current.version });
			assert.equal(retried.title, 'Token refresh v3');
			todo = retried;
		});

		it('assign_todo and assign_feature (to the least loaded member)', async () => {
			const assigned = await ok(client, 'assign_todo', { todo_id: todo.id });
			assert.match(assigned.assigned_to, /^[0-9a-f-]{36}$/);
			todo = assigned;
			const assignedFeature = await ok(client, 'assign_feature', { feature_id: feature.id });
			assert.match(assignedFeature.assigned_to, /^[0-9a-f-]{36}$/);
			const stale = await fails(client, 'assign_todo', { todo_id: todo.id, expected_version: 1 });
			assert.equal(stale.sqlstate, 'PT409');
		});

		it('set_todo_status; an unknown status fails', async () => {
			const bad = await fails(client, 'set_todo_status', { todo_id: blocker.id, status: 'nearly', expected_version: blocker.version });
			assert.match(bad.sqlstate, /^(22023|23514|PT422)$/);
			const done = await ok(client, 'set_todo_status', { todo_id: blocker.id, status: 'done', expected_version: blocker.version });
			assert.equal(done.status, 'done');
		});

		it('claim_next_todo and get_my_todos', async () => {
			await ok(client, 'create_todo', { project_id: project, title: 'Claim me', priority: 'critical' });
			const [claimed] = (await ok(client, 'claim_next_todo', { project_id: project })).rows;
			assert.equal(claimed.title, 'Claim me');
			assert.equal(claimed.status, 'in_progress');
			assert.equal(typeof claimed.claim_reason, 'string');
			const { rows } = await ok(client, 'get_my_todos', { project_id: project });
			assert.ok(rows.some((t) => t.id === claimed.id));
			const foreign = await fails(client, 'claim_next_todo', { project_id: FOREIGN_PROJECT() });
			assert.equal(foreign.sqlstate, 'PT404');
		});

		it('start_session and end_session; ending an unknown session fails', async () => {
			const session = await ok(client, 'start_session', { project_id: project, goal: 'ship login' });
			assert.equal(session.goal, 'ship login');
			const ended = await ok(client, 'end_session', { session_id: session.id, summary: 'done for today',
				next_steps: ['deploy'], todo_ids: [todo.id] });
			assert.equal(ended.summary, 'done for today');
			const unknown = await fails(client, 'end_session', { session_id: '00000000-0000-0000-0000-000000000000', summary: 'x' });
			assert.equal(unknown.sqlstate, 'PT404');
		});

		it('get_team_context and get_resume_context; a foreign project fails', async () => {
			const team = await ok(client, 'get_team_context', { project_id: project });
			assert.equal(team.project.id, project);
			const resume = await ok(client, 'get_resume_context', { project_id: project });
			assert.equal(typeof resume.next_action, 'string');
			const foreign = await fails(client, 'get_team_context', { project_id: FOREIGN_PROJECT() });
			assert.equal(foreign.sqlstate, 'PT404');
		});

		it('get_events, and wait_for_events answers at once when events are there', async () => {
			const { rows } = await ok(client, 'get_events', { after_seq: 0, project_id: project });
			assert.ok(rows.length > 0, 'the events of the calls above');
			const waited = await ok(client, 'wait_for_events', { after_seq: 0, project_id: project, max_events: 2, timeout_seconds: 60 });
			assert.equal(waited.rows.length, 2);
			const badTimeout = await refused(client.callTool({ name: 'wait_for_events', arguments: { after_seq: 0, project_id: project, timeout_seconds: 301 } }));
			assert.equal(badTimeout.code, -32602);
			const foreign = await fails(client, 'wait_for_events', { after_seq: 0, project_id: FOREIGN_PROJECT(), timeout_seconds: 1 });
			assert.equal(foreign.sqlstate, 'PT404');
		});

		it('documents; comments, @mentions and the inbox between two agents; search; history', async () => {
			const doc = await ok(client, 'create_document', { project_id: project, title: 'Login runbook',
				body: 'Rotate the zanzibar keys first.', kind: 'runbook' });
			assert.equal(doc.version, 1);
			const stale = await fails(client, 'update_document', { document_id: doc.id, changes: { body: 'x' }, expected_version: 2 });
			assert.equal(stale.sqlstate, 'PT409');
			const updated = await ok(client, 'update_document', { document_id: doc.id,
				changes: { body: 'Rotate the zanzibar keys, then restart.' }, expected_version: 1 });
			assert.equal(updated.version, 2);
			const { rows: documents } = await ok(client, 'list_documents', { project_id: project });
			assert.ok(documents.some((d) => d.id === doc.id && d.kind === 'runbook' && !('body' in d)), 'titles, not bodies');
			assert.match((await ok(client, 'get_document', { document_id: doc.id })).body, /then restart/);

			// bob's handle is his email's local part
			const comment = await ok(client, 'add_comment', { entity_id: todo.id, body: '@bob can you check the zanzibar keys?' });
			assert.equal(comment.mentions.length, 1);
			const bob = await sdk.connect(tokenOf('bob'));
			try {
				const { rows: inbox } = await ok(bob, 'get_my_notifications');
				const mention = inbox.find((n) => n.entity_id === comment.id);
				assert.equal(mention?.kind, 'mention');
				assert.equal((await ok(bob, 'mark_notifications_read', { notification_ids: [mention.id] })).result, 1);
				const { rows: unread } = await ok(bob, 'get_my_notifications');
				assert.ok(!unread.some((n) => n.id === mention.id), 'read, so no longer listed');
				const notHis = await fails(bob, 'update_comment', { comment_id: comment.id, body: 'mine', expected_version: 1 });
				assert.equal(notHis.sqlstate, '42501');
				const { rows: thread } = await ok(bob, 'list_comments', { entity_id: todo.id });
				assert.ok(thread.some((c) => c.id === comment.id));
			} finally {
				await bob.close();
			}
			const edited = await ok(client, 'update_comment', { comment_id: comment.id, body: '@bob the zanzibar keys, please', expected_version: 1 });
			assert.equal(edited.version, 2);

			const { rows: hits } = await ok(client, 'search', { query: 'zanzib', project_id: project });
			assert.deepEqual(hits.map((h) => h.kind).sort(), ['comment', 'document'], 'prefix search finds both');
			assert.ok(hits.every((h) => /\*\*zanzibar\*\*/i.test(h.snippet)), 'matches in bold');

			const historyOf = async (id) => (await ok(client, 'get_history', { entity_id: id })).rows.map((c) => c.type);
			await until(async () => (await historyOf(doc.id)).length === 2, 5000, 'the document\'s history');
			assert.deepEqual(await historyOf(doc.id), ['document.updated', 'document.created']);

			assert.equal((await ok(client, 'delete_comment', { comment_id: comment.id })).id, comment.id);
			assert.equal((await ok(client, 'delete_document', { document_id: doc.id })).id, doc.id);
			assert.equal((await fails(client, 'get_document', { document_id: doc.id })).sqlstate, 'PT404');
			await until(async () => (await historyOf(doc.id)).length === 3, 5000, 'the deletion in the history');
		});

		it('create_github_issue fails clearly when the project has no repository', async () => {
			const error = await fails(client, 'create_github_issue', { todo_id: todo.id });
			assert.match(error.sqlstate, /^[0-9A-Z]{5}$/);
			assert.match(error.text, /github|repository/i);
		});
	});
}
