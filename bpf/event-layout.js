// Writes struct sigaudit_event's layout as the compiled BPF object's BTF
// describes it (the JSON of `bpftool -j btf dump file`, on stdin), for the
// TypeScript decoder (src/record/decode.ts): {size, offsets}, the shape of
// the addon's own layout, which test/decode-layout.test.ts compares.
// An anonymous union's bytes go by its first member's name (the others are
// other names for them); `reserved` holds nothing.
'use strict';

const { types } = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const byId = (id) => types[id - 1];
const event = types.find((type) => type.kind === 'STRUCT' && type.name === 'sigaudit_event');
if (!event) throw new Error('struct sigaudit_event is not in the BPF object\'s BTF');

const offsets = {};
function addMembers(members, base) {
  for (const member of members) {
    const at = base + member.bits_offset / 8;
    if (member.name === '(anon)') addMembers(byId(member.type_id).members.slice(0, 1), at);
    else if (member.name !== 'reserved') offsets[member.name] = at;
  }
}
addMembers(event.members, 0);
process.stdout.write(`${JSON.stringify({ size: event.size, offsets }, null, 2)}\n`);
