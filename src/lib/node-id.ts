/** The cloud part of a node id `<cloud>/<node>`; '' for a string without a slash. */
export function cloudOfNode(nodeId: string): string {
  const slash = nodeId.indexOf('/');
  return slash < 0 ? '' : nodeId.slice(0, slash);
}
