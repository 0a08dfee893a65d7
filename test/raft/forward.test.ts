import t from 'tap';
import { Cluster, cmd } from './harness.js';

const commands = (c: Cluster, id: string): string[] =>
  c.node(id).applied.flatMap((e) => (e.payload.type === 'command' ? [Buffer.from(e.payload.data).toString()] : []));

t.test('a follower forwards a command to the leader, which appends and commits it', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  c.raft('b').forward(cmd('from-b'));
  c.settle();
  for (const id of ['a', 'b', 'c']) t.same(commands(c, id), ['from-b'], `${id} applied the forwarded command`);
  t.end();
});

t.test('forwarding without a known leader drops the command; nothing is appended', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  const dropped = c.raft('b').status().droppedMessages;
  c.raft('b').forward(cmd('lost'));
  c.stabilize();
  t.equal(c.raft('b').status().droppedMessages, dropped + 1);
  t.equal(c.outbox.filter((m) => m.type === 'propose').length, 0);
  t.end();
});

t.test('a forwarded command that reaches a follower is dropped, not re-forwarded', (t) => {
  const c = new Cluster({ voters: ['a', 'b', 'c'] });
  c.elect('a');
  const term = c.raft('c').status().term;
  const dropped = c.raft('c').status().droppedMessages;
  c.raft('c').step({ type: 'propose', from: 'b', to: 'c', term, data: cmd('misrouted') });
  c.drainAll();
  t.equal(c.raft('c').status().droppedMessages, dropped + 1);
  t.equal(c.outbox.filter((m) => m.type === 'propose').length, 0, 'no forwarding loop');
  c.stabilize();
  t.same(commands(c, 'a'), [], 'nothing appended');
  t.end();
});
