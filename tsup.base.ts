/** Shared tsup settings: ESM + .d.ts for Node 20. Workspace deps stay external and resolve to their dist types. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { defineConfig, type Options } from 'tsup';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * etcd3 loads its gRPC service definitions from `${__dirname}/../proto/rpc.proto` when imported: in
 * a single-file ESM bundle there is neither `__dirname` nor the .proto files, so the etcd backend
 * of a bundled binary failed with "__dirname is not defined". This plugin parses the .proto files at
 * build time (with @grpc/proto-loader's own loader and etcd3's options) and inlines them as JSON,
 * read at run time with proto-loader's `fromJSON`.
 */
const inlineEtcd3Protos: EsbuildPlugin = {
  name: 'p2-inline-etcd3-protos',
  setup(build) {
    build.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      // etcd3's own source text, a template literal (escaped here so `${__dirname}` stays literal).
      const call = `(0, proto_loader_1.loadSync)(\`$\{__dirname}/../proto/rpc.proto\`, {`;
      if (!source.includes(call))
        throw new Error(`${args.path}: etcd3 no longer loads rpc.proto as this plugin expects`);
      const fromEtcd3 = createRequire(args.path);
      const fromLoader = createRequire(fromEtcd3.resolve('@grpc/proto-loader'));
      const { loadProtosWithOptionsSync } = fromLoader('./util.js') as {
        loadProtosWithOptionsSync(file: string, options: object): { toJSON(): unknown };
      };
      const proto = fromEtcd3.resolve('../proto/rpc.proto');
      const json = JSON.stringify(loadProtosWithOptionsSync(proto, { keepCase: true }).toJSON());
      return {
        contents: source.replace(call, `(0, proto_loader_1.fromJSON)(${json}, {`),
        loader: 'js',
      };
    });
  },
};

export function p2Tsup(options: Options = {}) {
  return defineConfig({
    // The package's version, for binaries bundled away from their package.json (the standalone ones).
    define: { __P2_PACKAGE_VERSION__: JSON.stringify(packageVersion()) },
    entry: ['src/index.ts'],
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: { compilerOptions: { paths: {} } },
    sourcemap: true,
    clean: true,
    splitting: false,
    ...options,
  });
}

/** The version in the package.json of the package being built (tsup runs in its directory). */
function packageVersion(): string {
  return (
    JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { version: string }
  ).version;
}

/**
 * A single-file bundle of a binary with every dependency inlined (`dist/standalone/<name>.js`), for
 * packing into a Hoist artifact that runs with nothing but Node (see p2-bootstrap).
 */
export function p2StandaloneTsup(name: string, entry = 'src/cli.ts') {
  return p2Tsup({
    entry: { [name]: entry },
    outDir: 'dist/standalone',
    dts: false,
    clean: false,
    noExternal: [/.*/],
    sourcemap: false,
    esbuildPlugins: [inlineEtcd3Protos],
    banner: {
      js: "import { createRequire as __p2CreateRequire } from 'node:module'; const require = __p2CreateRequire(import.meta.url);",
    },
  });
}
