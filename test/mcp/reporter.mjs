// A node:test reporter for test/t/026_mcp_sdk_clients.pl: one line per test
// (suites are not tests), which the Perl side turns into TAP assertions.
//   PASS <suite> > <test>
//   FAIL <suite> > <test>
//     <the error, indented>
const names = new Map();	// nesting → the names of the open suites

export default async function* reporter(source) {
	for await (const event of source) {
		const { data } = event;
		if (event.type === 'test:start') names.set(data.nesting, data.name);
		if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
		if (data.details?.type === 'suite') continue;	// its tests say it
		const path = [...Array(data.nesting).keys()].map((n) => names.get(n)).concat(data.name).join(' > ');
		if (event.type === 'test:pass') {
			yield `PASS ${path}\n`;
		} else {
			const error = data.details?.error;
			const cause = error?.cause ?? error;
			yield `FAIL ${path}\n${String(cause?.stack ?? cause?.message ?? cause).replace(/^/gm, '  ')}\n`;
		}
	}
}
