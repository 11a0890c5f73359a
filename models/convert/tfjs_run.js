// Runs an ORIGINAL TF.js graph model (model.json + weight shards) on a raw
// float32 tensor, with the pure-JS CPU backend, and writes its outputs.
//
// usage: node tfjs_run.js MODEL.json INPUT.f32 N,H,W,C OUT_PREFIX [OUTPUT,...]
// writes OUT_PREFIX.<i>.f32 (little-endian float32) and OUT_PREFIX.json
// (output names, shapes, tfjs version).
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [modelJson, input, shapeArg, outPrefix, outputsArg] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const dir = path.dirname(modelJson);
  const weightSpecs = [];
  const shards = [];
  for (const group of spec.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) shards.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(shards);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: spec.modelTopology,
    weightSpecs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
    format: spec.format,
    generatedBy: spec.generatedBy,
    convertedBy: spec.convertedBy,
    signature: spec.signature,
    userDefinedMetadata: spec.userDefinedMetadata,
  }));
  const raw = fs.readFileSync(input);
  const shape = shapeArg.split(',').map(Number);
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), shape, 'float32');
  const names = outputsArg ? outputsArg.split(',') : undefined;
  let outs = names ? model.execute(x, names) : model.execute(x);
  if (!Array.isArray(outs)) outs = [outs];
  const meta = { tfjs: tf.version.tfjs, backend: tf.getBackend(), outputs: [] };
  for (let i = 0; i < outs.length; i++) {
    const data = await outs[i].data();
    fs.writeFileSync(`${outPrefix}.${i}.f32`, Buffer.from(new Float32Array(data).buffer));
    meta.outputs.push({ name: names ? names[i] : model.outputs[i].name, shape: outs[i].shape });
  }
  fs.writeFileSync(`${outPrefix}.json`, JSON.stringify(meta));
}

main().catch((e) => { console.error(e); process.exit(1); });
