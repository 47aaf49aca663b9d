# Streams numbered lines to stdout in bursts, often cutting a line between two writes,
# for about `seconds`; used by the kill tests (a writer that the logger cannot predict).
import os, random, sys, time
count, seconds, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
random.seed(seed)
data = b"".join(b"line %06d %s\n" % (i, b"x" * random.randrange(0, 60)) for i in range(count))
bursts = 200
pos = 0
for k in range(bursts):
    end = len(data) if k == bursts - 1 else min(len(data), pos + random.randrange(1, 2 * len(data) // bursts))
    while pos < end:
        pos += os.write(1, data[pos:end])
    time.sleep(seconds / bursts)
