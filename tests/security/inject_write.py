"""Plays a local user who writes a line into the stderr of their own process (PID) by ptrace."""
import ctypes, os, sys, struct
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_PEEKTEXT, PTRACE_POKEDATA, PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SINGLESTEP = 1, 5, 12, 13, 16, 17, 9
class Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs".split())]
def check(r, what):
    if r == -1 and ctypes.get_errno() != 0:
        raise OSError(ctypes.get_errno(), what)
    return r
pid, fd, text = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode("latin1")
ctypes.set_errno(0)
check(libc.ptrace(PTRACE_ATTACH, pid, None, None), "attach")
os.waitpid(pid, 0)
saved = Regs()
check(libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(saved)), "getregs")
# A syscall instruction: where the tracee stopped, it is usually just past one.
ctypes.set_errno(0)
word = libc.ptrace(PTRACE_PEEKTEXT, pid, ctypes.c_void_p(saved.rip - 2), None) & 0xffff
if word != 0x050f:
    raise SystemExit(f"no syscall before rip: {word:#x}")
addr = (saved.rsp - 8192) & ~7
data = text + b"\0" * (8 - len(text) % 8)
for i in range(0, len(data), 8):
    ctypes.set_errno(0)
    check(libc.ptrace(PTRACE_POKEDATA, pid, ctypes.c_void_p(addr + i), ctypes.c_void_p(struct.unpack("<Q", data[i:i+8])[0])), "poke")
regs = Regs.from_buffer_copy(saved)
regs.rip = saved.rip - 2; regs.rax = 1; regs.rdi = fd; regs.rsi = addr; regs.rdx = len(text); regs.orig_rax = 0xffffffffffffffff
check(libc.ptrace(PTRACE_SETREGS, pid, None, ctypes.byref(regs)), "setregs")
check(libc.ptrace(PTRACE_SINGLESTEP, pid, None, None), "step")
os.waitpid(pid, 0)
after = Regs()
check(libc.ptrace(PTRACE_GETREGS, pid, None, ctypes.byref(after)), "getregs2")
check(libc.ptrace(PTRACE_SETREGS, pid, None, ctypes.byref(saved)), "restore")
check(libc.ptrace(PTRACE_DETACH, pid, None, None), "detach")
print(ctypes.c_longlong(after.rax).value)
