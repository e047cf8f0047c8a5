// Draws the map's thumbnails from the sprite atlas: WebGL2, one instanced draw call of a textured square per image
// with its class colour as an outline (2,000 images cost the page well under a millisecond on a GPU); a 2-D canvas
// with drawImage where WebGL2 is missing (a blocklisted GPU), the same picture more slowly.
//
// Why not a library: regl-scatterplot (the style guide's pick for points) draws points and lassos, not per-point
// images; three.js or pixi.js would do it, at 150–500 kB for one draw call.
import type { SpriteAtlas } from './spriteAtlas';

/** How a point is drawn. */
export const SpriteState = {
  Normal: 0,
  /** Another image is chosen and this one is not among its neighbours: faded. */
  Dimmed: 1,
  /** One of the chosen image's nearest neighbours. */
  Neighbour: 2,
  /** The chosen image. */
  Chosen: 3,
  /** Under the pointer. */
  Hovered: 4,
} as const;

/** The points of one frame: positions in CSS px, outline colours (RGBA bytes), states, and the drawing order (last on top). */
export interface SpritePoints {
  screen: Float32Array;
  colours: Uint8Array;
  states: Uint8Array;
  order: ArrayLike<number>;
}

export interface SpriteFrame {
  /** The canvas's CSS size (square); its backing store is `size × devicePixelRatio`. */
  size: number;
  /** Thumbnail side in CSS px. */
  side: number;
  /** Outline width in CSS px. */
  outline: number;
  /** Outline of the chosen image, RGB bytes. */
  highlight: [number, number, number];
}

export interface SpriteRenderer {
  readonly kind: 'webgl2' | 'canvas2d';
  setAtlas(atlas: SpriteAtlas): void;
  draw(frame: SpriteFrame, points: SpritePoints): void;
  dispose(): void;
}

/** Size factor and opacity by state: the chosen image and its neighbours stand out, the rest fade. */
const GROW = [1, 1, 1.2, 1.6, 1.35];
const OPACITY = [1, 0.22, 1, 1, 1];

const VERTEX = `#version 300 es
in vec4 a_point;      // x, y (CSS px), atlas cell, state
in vec4 a_colour;     // outline colour
uniform vec2 u_canvas;   // CSS px
uniform float u_half;    // half a thumbnail, CSS px
uniform float u_columns; // of the atlas
uniform vec2 u_cellUv;   // one thumbnail's size in uv
uniform vec2 u_strideUv; // cell to cell in uv
uniform float u_grow[5];
out vec2 v_uv;
out vec2 v_local;
out vec4 v_colour;
out float v_state;
out float v_half;
const vec2 corners[6] = vec2[6](vec2(-1.0, -1.0), vec2(1.0, -1.0), vec2(-1.0, 1.0), vec2(-1.0, 1.0), vec2(1.0, -1.0), vec2(1.0, 1.0));
void main() {
  vec2 corner = corners[gl_VertexID];
  int state = int(a_point.w + 0.5);
  float half_ = u_half * u_grow[state];
  vec2 p = a_point.xy + corner * half_;
  gl_Position = vec4(p.x / u_canvas.x * 2.0 - 1.0, 1.0 - p.y / u_canvas.y * 2.0, 0.0, 1.0);
  float row = floor((a_point.z + 0.5) / u_columns);
  float column = a_point.z - row * u_columns;
  v_uv = vec2(column, row) * u_strideUv + (corner * 0.5 + 0.5) * u_cellUv;
  v_local = corner;
  v_colour = a_colour;
  v_state = a_point.w;
  v_half = half_;
}`;

const FRAGMENT = `#version 300 es
precision mediump float;
in vec2 v_uv;
in vec2 v_local;
in vec4 v_colour;
in float v_state;
in float v_half;
uniform sampler2D u_atlas;
uniform float u_outline;   // CSS px
uniform vec3 u_highlight;
uniform float u_opacity[5];
out vec4 colour;
void main() {
  int state = int(v_state + 0.5);
  float edge = max(abs(v_local.x), abs(v_local.y));
  float width = state >= 2 ? u_outline * 1.8 : u_outline;
  vec4 c;
  if (edge > 1.0 - width / v_half) {
    c = state == 3 ? vec4(u_highlight, 1.0) : v_colour;
  } else {
    c = texture(u_atlas, v_uv);
  }
  float a = c.a * u_opacity[state];
  colour = vec4(c.rgb * a, a);
}`;

function compile(gl: WebGL2RenderingContext, type: number, source: string): WebGLShader {
  const shader = gl.createShader(type)!;
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(`map shader: ${gl.getShaderInfoLog(shader)}`);
  return shader;
}

function createWebGlRenderer(canvas: HTMLCanvasElement): SpriteRenderer | null {
  const gl = canvas.getContext('webgl2', { alpha: true, premultipliedAlpha: true, antialias: false, depth: false, stencil: false });
  if (!gl) return null;
  let program: WebGLProgram;
  try {
    program = gl.createProgram()!;
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`map shaders: ${gl.getProgramInfoLog(program)}`);
  } catch {
    return null;
  }
  const vao = gl.createVertexArray();
  const points = gl.createBuffer();
  const colours = gl.createBuffer();
  const texture = gl.createTexture();
  const where = (name: string) => gl.getUniformLocation(program, name);
  const u = {
    canvas: where('u_canvas'),
    half: where('u_half'),
    columns: where('u_columns'),
    cellUv: where('u_cellUv'),
    strideUv: where('u_strideUv'),
    grow: where('u_grow'),
    opacity: where('u_opacity'),
    outline: where('u_outline'),
    highlight: where('u_highlight'),
    atlas: where('u_atlas'),
  };
  gl.bindVertexArray(vao);
  const aPoint = gl.getAttribLocation(program, 'a_point');
  gl.bindBuffer(gl.ARRAY_BUFFER, points);
  gl.enableVertexAttribArray(aPoint);
  gl.vertexAttribPointer(aPoint, 4, gl.FLOAT, false, 0, 0);
  gl.vertexAttribDivisor(aPoint, 1);
  const aColour = gl.getAttribLocation(program, 'a_colour');
  gl.bindBuffer(gl.ARRAY_BUFFER, colours);
  gl.enableVertexAttribArray(aColour);
  gl.vertexAttribPointer(aColour, 4, gl.UNSIGNED_BYTE, true, 0, 0);
  gl.vertexAttribDivisor(aColour, 1);
  gl.bindVertexArray(null);

  let atlas: SpriteAtlas | null = null;
  let pointData = new Float32Array(0);
  let colourData = new Uint8Array(0);

  return {
    kind: 'webgl2',
    setAtlas(next) {
      atlas = next;
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, next.width, next.height, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(next.pixels.buffer, next.pixels.byteOffset, next.pixels.byteLength));
      // Enlarged thumbnails keep their pixels sharp (as the page's other thumbnails do); shrunk ones are averaged.
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    },
    draw(frame, p) {
      gl.viewport(0, 0, canvas.width, canvas.height);
      gl.clearColor(0, 0, 0, 0);
      gl.clear(gl.COLOR_BUFFER_BIT);
      if (!atlas) return;
      const n = p.order.length;
      if (pointData.length < n * 4) {
        pointData = new Float32Array(n * 4);
        colourData = new Uint8Array(n * 4);
      }
      for (let k = 0; k < n; k++) {
        const i = p.order[k]!;
        pointData[4 * k] = p.screen[2 * i]!;
        pointData[4 * k + 1] = p.screen[2 * i + 1]!;
        pointData[4 * k + 2] = i;
        pointData[4 * k + 3] = p.states[i]!;
        colourData.set(p.colours.subarray(4 * i, 4 * i + 4), 4 * k);
      }
      gl.useProgram(program);
      gl.bindBuffer(gl.ARRAY_BUFFER, points);
      gl.bufferData(gl.ARRAY_BUFFER, pointData.subarray(0, n * 4), gl.DYNAMIC_DRAW);
      gl.bindBuffer(gl.ARRAY_BUFFER, colours);
      gl.bufferData(gl.ARRAY_BUFFER, colourData.subarray(0, n * 4), gl.DYNAMIC_DRAW);
      gl.uniform2f(u.canvas, frame.size, frame.size);
      gl.uniform1f(u.half, frame.side / 2);
      gl.uniform1f(u.columns, atlas.columns);
      gl.uniform2f(u.cellUv, atlas.cell / atlas.width, atlas.cell / atlas.height);
      gl.uniform2f(u.strideUv, atlas.stride / atlas.width, atlas.stride / atlas.height);
      gl.uniform1fv(u.grow, GROW);
      gl.uniform1fv(u.opacity, OPACITY);
      gl.uniform1f(u.outline, frame.outline);
      gl.uniform3f(u.highlight, frame.highlight[0] / 255, frame.highlight[1] / 255, frame.highlight[2] / 255);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, texture);
      gl.uniform1i(u.atlas, 0);
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
      gl.bindVertexArray(vao);
      gl.drawArraysInstanced(gl.TRIANGLES, 0, 6, n);
      gl.bindVertexArray(null);
    },
    dispose() {
      gl.deleteBuffer(points);
      gl.deleteBuffer(colours);
      gl.deleteTexture(texture);
      gl.deleteVertexArray(vao);
      gl.deleteProgram(program);
    },
  };
}

function createCanvasRenderer(canvas: HTMLCanvasElement): SpriteRenderer {
  const ctx = canvas.getContext('2d')!;
  let source: HTMLCanvasElement | null = null;
  let atlas: SpriteAtlas | null = null;
  return {
    kind: 'canvas2d',
    setAtlas(next) {
      atlas = next;
      source = document.createElement('canvas');
      source.width = next.width;
      source.height = next.height;
      source.getContext('2d')!.putImageData(new ImageData(next.pixels, next.width, next.height), 0, 0);
    },
    draw(frame, p) {
      const ratio = canvas.width / frame.size;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, frame.size, frame.size);
      if (!atlas || !source) return;
      ctx.imageSmoothingEnabled = frame.side * ratio < atlas.cell;
      for (let k = 0; k < p.order.length; k++) {
        const i = p.order[k]!;
        const state = p.states[i]!;
        const half = (frame.side / 2) * GROW[state]!;
        const x = p.screen[2 * i]! - half;
        const y = p.screen[2 * i + 1]! - half;
        ctx.globalAlpha = OPACITY[state]!;
        ctx.drawImage(source, (i % atlas.columns) * atlas.stride, Math.floor(i / atlas.columns) * atlas.stride, atlas.cell, atlas.cell, x, y, 2 * half, 2 * half);
        const width = state >= SpriteState.Neighbour ? frame.outline * 1.8 : frame.outline;
        const [r, g, b, a] = state === SpriteState.Chosen ? [...frame.highlight, 255] : Array.from(p.colours.subarray(4 * i, 4 * i + 4));
        ctx.strokeStyle = `rgba(${r}, ${g}, ${b}, ${a! / 255})`;
        ctx.lineWidth = width;
        ctx.strokeRect(x + width / 2, y + width / 2, 2 * half - width, 2 * half - width);
      }
      ctx.globalAlpha = 1;
    },
    dispose() {
      source = null;
    },
  };
}

/** WebGL2 where the browser has it, else a 2-D canvas. A canvas keeps the kind of context it got first. */
export function createSpriteRenderer(canvas: HTMLCanvasElement): SpriteRenderer {
  return createWebGlRenderer(canvas) ?? createCanvasRenderer(canvas);
}
