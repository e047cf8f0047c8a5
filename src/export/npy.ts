// NumPy's .npy format, version 1.0 (numpy.lib.format): the magic string, a little-endian header length, a Python dict
// literal padded with spaces to a multiple of 64 bytes and ended by a newline, then the data in C order.

/** An n × d float32 array as .npy bytes, as np.load reads them. */
export function encodeNpyFloat32(values: Float32Array, rows: number, columns: number): Uint8Array {
  if (values.length !== rows * columns) throw new Error(`.npy: ${values.length} values for ${rows} × ${columns}`);
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  const preamble = 10; // magic (6) + version (2) + header length (2)
  const unpadded = preamble + dict.length + 1;
  const headerLength = Math.ceil(unpadded / 64) * 64 - preamble;
  if (headerLength > 0xffff) throw new Error('.npy: header too long for version 1.0');
  const out = new Uint8Array(preamble + headerLength + values.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  out[8] = headerLength & 0xff;
  out[9] = headerLength >> 8;
  const header = `${dict}${' '.repeat(headerLength - dict.length - 1)}\n`;
  for (let i = 0; i < header.length; i++) out[preamble + i] = header.charCodeAt(i);
  // Float32Array is in the platform's order, and every platform a browser runs on is little-endian; DataView makes sure.
  const view = new DataView(out.buffer, preamble + headerLength);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  return out;
}
