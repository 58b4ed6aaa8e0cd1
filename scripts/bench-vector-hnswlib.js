// Runs hnswlib-node over the data file `engram bench vector` wrote, on one
// thread, and prints one JSON object: build time, and per ef the recall@k
// against the file's ground truth and the queries/s by wall and CPU time.
//
//   node bench-vector-hnswlib.js ADDON_DIR DATA_FILE M EF_CONSTRUCTION EF[,EF...]
//
// DATA_FILE (little-endian): int32 n, dim, nq, k; f32 vectors[n*dim];
// f32 queries[nq*dim]; int32 truth[nq*k] (row indexes, nearest first).
'use strict';
const fs = require('fs');
const path = require('path');
const [addonDir, dataFile, mArg, efcArg, efsArg] = process.argv.slice(2);
const { HierarchicalNSW } = require(path.resolve(addonDir, 'node_modules', 'hnswlib-node'));

const buf = fs.readFileSync(dataFile);
const head = new Int32Array(buf.buffer, buf.byteOffset, 4);
const [n, dim, nq, k] = head;
let off = buf.byteOffset + 16;
const vecs = new Float32Array(buf.buffer.slice(off, off + n * dim * 4)); off += n * dim * 4;
const qs = new Float32Array(buf.buffer.slice(off, off + nq * dim * 4)); off += nq * dim * 4;
const truth = new Int32Array(buf.buffer.slice(off, off + nq * k * 4));

const rows = (a, count) => { const out = []; for (let i = 0; i < count; i++) out.push(Array.from(a.subarray(i * dim, (i + 1) * dim))); return out; };
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

const index = new HierarchicalNSW('cosine', dim);
index.initIndex(n, Number(mArg), Number(efcArg), 100);
const points = rows(vecs, n);
let t0 = process.hrtime.bigint(), c0 = cpu();
for (let i = 0; i < n; i++) index.addPoint(points[i], i);
const buildWall = Number(process.hrtime.bigint() - t0) / 1e9, buildCPU = cpu() - c0;

const queries = rows(qs, nq);
const results = [];
for (const ef of efsArg.split(',').map(Number)) {
  index.setEf(ef);
  for (let i = 0; i < Math.min(nq, 50); i++) index.searchKnn(queries[i], k); // warm up
  let hit = 0;
  t0 = process.hrtime.bigint(); c0 = cpu();
  const got = [];
  for (let i = 0; i < nq; i++) got.push(index.searchKnn(queries[i], k).neighbors);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9, c = cpu() - c0;
  for (let i = 0; i < nq; i++) {
    const want = new Set(truth.subarray(i * k, (i + 1) * k));
    for (const id of got[i]) if (want.has(id)) hit++;
  }
  results.push({ ef, recall: hit / (nq * k), qps_wall: nq / wall, qps_cpu: nq / c });
}
console.log(JSON.stringify({ build_wall_s: buildWall, build_cpu_s: buildCPU, search: results }));
