// Runs a Vega spec's dataflow headless (no renderer) and prints the named data sets as JSON:
// the same Vega transforms Dashboards' Vega panels run in the browser, on the answers
// spot_cli/vega_panels.py got from OpenSearch. stdin: {"spec": {...}, "datasets": ["name", ...]}.
import * as vega from 'vega';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { spec, datasets } = JSON.parse(input);
const view = new vega.View(vega.parse(spec), { renderer: 'none' });
await view.runAsync();
const out = {};
for (const name of datasets) out[name] = view.data(name);
process.stdout.write(JSON.stringify(out));
view.finalize();
