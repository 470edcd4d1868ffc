/**
 * Server reflection (grpc.reflection.v1 and v1alpha) from the descriptor set embedded at codegen
 * time, so grpcurl and `buf curl` work with no proto files.
 *
 * @grpc/reflection reads one thing from the package definition it is given: each entry's
 * `fileDescriptorProtos` (serialized FileDescriptorProtos), which it indexes by file name and
 * symbol. Feeding it proto-loader's definitions breaks every service that touches a map field
 * (protobufjs misnames map entry types; TOOLCHAIN.md, fullstorydev/grpcurl#519): Events uses
 * google.protobuf.Struct and grpc.health.v1 is in the same position. So the entries here carry
 * the exact bytes `buf build` produced: the FileDescriptorSet is split into its files with
 * BinaryReader, and each exposed service gets its file plus that file's transitive imports.
 * Only the reflection protos themselves come through proto-loader; they have no map fields.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { Server } from '@grpc/grpc-js';
import { loadSync, type EnumTypeDefinition, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { descriptorSetBase64 } from '../gen/descriptor-set.js';

export const reflectionServiceNames = [
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
] as const;

/** What reflection's package definition needs to know about one file. */
export interface FileDescriptorSummary {
  name: string;
  package: string;
  /** Imported file names. */
  dependencies: string[];
  /** Fully qualified service names declared in the file. */
  services: string[];
  bytes: Uint8Array;
}

/** The serialized FileDescriptorProtos of a FileDescriptorSet (its repeated field 1). */
export function splitFileDescriptorSet(set: Uint8Array): Uint8Array[] {
  const files: Uint8Array[] = [];
  const reader = new BinaryReader(set);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType, field);
  }
  return files;
}

/** Reads name (1), package (2), dependency (3) and service names (6 -> 1) of a FileDescriptorProto. */
export function summarizeFileDescriptor(bytes: Uint8Array): FileDescriptorSummary {
  let name = '';
  let pkg = '';
  const dependencies: string[] = [];
  const serviceNames: string[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) name = reader.string();
    else if (field === 2 && wireType === WireType.LengthDelimited) pkg = reader.string();
    else if (field === 3 && wireType === WireType.LengthDelimited) dependencies.push(reader.string());
    else if (field === 6 && wireType === WireType.LengthDelimited)
      serviceNames.push(readName(reader.bytes()));
    else reader.skip(wireType, field);
  }
  const qualify = (local: string): string => (pkg === '' ? local : `${pkg}.${local}`);
  return { name, package: pkg, dependencies, services: serviceNames.map(qualify), bytes };
}

/** Field 1 (name) of a ServiceDescriptorProto. */
function readName(bytes: Uint8Array): string {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) return reader.string();
    reader.skip(wireType, field);
  }
  return '';
}

/**
 * A package definition with one entry per service in `services`, each carrying the service's file
 * and everything it imports. Every listed service must be declared in one of `files`.
 */
export function reflectionPackageDefinition(
  files: readonly Uint8Array[],
  services: readonly string[],
): PackageDefinition {
  const byName = new Map<string, FileDescriptorSummary>();
  for (const bytes of files) {
    const summary = summarizeFileDescriptor(bytes);
    byName.set(summary.name, summary);
  }
  const definition: PackageDefinition = {};
  for (const service of services) {
    const home = [...byName.values()].find((file) => file.services.includes(service));
    assert(home, `service ${service} is in no file of the descriptor set`);
    const closure = new Map<string, FileDescriptorSummary>();
    const visit = (file: FileDescriptorSummary): void => {
      if (closure.has(file.name)) return;
      closure.set(file.name, file);
      for (const dependency of file.dependencies) {
        const imported = byName.get(dependency);
        assert(imported, `${file.name} imports ${dependency}, which is not in the descriptor set`);
        visit(imported);
      }
    };
    visit(home);
    // @grpc/reflection reads only fileDescriptorProtos; the entry's kind and `type` are unused.
    const entry: EnumTypeDefinition = {
      format: 'Protocol Buffer 3 EnumDescriptorProto',
      type: {},
      fileDescriptorProtos: [...closure.values()].map((file) => Buffer.from(file.bytes)),
    };
    definition[service] = entry;
  }
  return definition;
}

/** The reflection protos shipped with @grpc/reflection, through proto-loader (no map fields). */
function reflectionProtoFiles(): Uint8Array[] {
  const require = createRequire(import.meta.url);
  const protoDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
  const loaded = loadSync(
    ['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'],
    {
      includeDirs: [protoDir],
    },
  );
  const files = new Map<string, Uint8Array>();
  for (const entry of Object.values(loaded)) {
    if (!('fileDescriptorProtos' in entry)) continue;
    for (const bytes of entry.fileDescriptorProtos as Buffer[]) {
      files.set(summarizeFileDescriptor(bytes).name, bytes);
    }
  }
  return [...files.values()];
}

/** Every file reflection can serve: our protos, their imports, health, and reflection itself. */
export function reflectableFiles(): Uint8Array[] {
  return [...splitFileDescriptorSet(Buffer.from(descriptorSetBase64, 'base64')), ...reflectionProtoFiles()];
}

/**
 * Registers grpc.reflection.v1 and v1alpha on `server`, listing `services` (fully qualified) and
 * the two reflection services, and nothing else: the peer API's alliance.peer.v1 services are in
 * the same descriptor set but not served here.
 */
export function addReflection(server: Pick<Server, 'addService'>, services: readonly string[]): void {
  const exposed = [...services, ...reflectionServiceNames];
  const reflection = new ReflectionService(reflectionPackageDefinition(reflectableFiles(), exposed), {
    services: exposed,
  });
  reflection.addToServer(server);
}
