/* The every-call path of the compiled core, in C.
 *
 * _core_c.pyx owns the types and all slow paths; this file holds what runs on every
 * call: the state check, the call-through by vectorcall and the hand-off to the slow
 * paths. It returns NULL straight through on errors, so exceptions from the guarded
 * function (and rejections) gain no traceback entry from the breaker.
 */
#ifndef PCB_HOT_PATH_H
#define PCB_HOT_PATH_H

#include <Python.h>
#include "_shm_slot.h"

#if defined(_WIN32)
#include <windows.h>
static double pcb_monotonic(void) {
    static LARGE_INTEGER frequency;
    LARGE_INTEGER counter;
    if (frequency.QuadPart == 0) QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&counter);
    return (double)counter.QuadPart / (double)frequency.QuadPart;
}
static double pcb_wall(void) {
    /* 100 ns ticks since 1601-01-01, shifted to the POSIX epoch. */
    FILETIME ft;
    ULARGE_INTEGER ticks;
    GetSystemTimeAsFileTime(&ft);
    ticks.LowPart = ft.dwLowDateTime;
    ticks.HighPart = ft.dwHighDateTime;
    return (double)(ticks.QuadPart - 116444736000000000ULL) * 1e-7;
}
static double pcb_monotonic_coarse(void) { return pcb_monotonic(); }
static double pcb_coarse_slack(void) { return 0.0; }
#else
#include <time.h>
static double pcb_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
/* The monotonic clock as of the last tick: a fifth of the cost of pcb_monotonic (no
 * counter read), at most pcb_coarse_slack() behind it. A shared breaker's view is
 * checked for freshness on it, once per call. */
#ifdef CLOCK_MONOTONIC_COARSE
static int pcb_coarse_usable = 0; /* set by pcb_coarse_slack(), at import */
static double pcb_monotonic_coarse(void) {
    struct timespec ts;
    if (!pcb_coarse_usable) return pcb_monotonic();
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
/* Return how far the coarse clock may lag: twice its resolution, as a tick can come
 * late; 0 when the kernel has no coarse clock, which pcb_monotonic_coarse then skips. */
static double pcb_coarse_slack(void) {
    struct timespec ts;
    double resolution;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts) != 0
            || clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0) {
        pcb_coarse_usable = 0;
        return 0.0;
    }
    clock_getres(CLOCK_MONOTONIC_COARSE, &ts);
    resolution = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    pcb_coarse_usable = 1;
    return 2 * resolution;
}
#else
static double pcb_monotonic_coarse(void) { return pcb_monotonic(); }
static double pcb_coarse_slack(void) { return 0.0; }
#endif
static double pcb_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
#endif

/* The number of real states (CLOSED ... METRICS_ONLY); _core_c.pyx checks it at import. */
#define PCB_STATES 6

/* A breaker's counters and state: a field of the Cython CircuitBreaker. Counts are
 * long long, 64 bits on every platform (long is 32 on Windows): a DISABLED breaker's
 * error count grows without bound. The options stored here are checked by _config to
 * lie in 1 .. MAX_COUNT (2**31 - 1). */
typedef struct {
    int state;
    int strategy;
    long long error_count;
    long long success_count;
    long long error_threshold;
    long long recovery_threshold;
    long long half_open_max_calls; /* 0: no limit */
    long long permits_in_use;
    unsigned long long generation;
    long long openings;  /* openings since last CLOSED (or forced open, or disabled) */
    double open_timeout; /* length of the current (before the first: next) open period */
    double next_timeout; /* length of the next open period */
    double recover_at;
    double opened_wall;
    PyObject *fallback; /* borrowed from the breaker's _fallback; NULL when unset */
    int windowed;       /* a window strategy: every call of a CLOSED breaker is recorded */
    int timed;          /* slow calls count: every call is timed */
    int own_clock;      /* no injected clock: time is read here, in C */
    PyObject *detect_error; /* borrowed from the breaker's _detect_error; NULL when unset */
    PyObject *shared_call;  /* borrowed: the shared state's call(); NULL when not shared */
    /* Metrics (see _metrics.py): never reset; C increments, so nearly free per call. */
    unsigned long long successes;
    unsigned long long errors;
    unsigned long long ignored;
    unsigned long long rejections;
    unsigned long long slow_calls;
    unsigned long long transitions[PCB_STATES];
    double entered_at; /* when the current state was entered, on the breaker's clock */
    /* A shared breaker's local view of its shared state (see _shared.SharedState, which
     * publishes it): enough to decide here, with no Python frame, a call that needs no
     * round trip. Read only while ``now < view_fresh_until``; the shared state sets
     * that to -inf whenever it has work of its own to do first. */
    int view_state;
    long long view_errors;
    unsigned long long view_epoch;
    double view_recover_at;
    double view_fresh_until;
    long long view_calls; /* calls in the shared window, and slow ones among them */
    long long view_slows;
    /* A window's rule, for pcb_may_open: the window's size is pending_capacity. */
    long long minimum_calls;
    double failure_rate;
    double slow_call_rate;
    double slow_call_duration;
    /* A windowed shared breaker's CLOSED successes of the epoch ``pending_epoch``, sent
     * in a batch by the shared state. A count window keeps only the last window-size
     * outcomes (all the window can hold: exact), a digit each ('0', or '2' if slow), in
     * a ring; a time window, whose batch lands in one slice, only counts them. */
    char *pending;      /* count window: the ring; NULL for a time window */
    Py_ssize_t pending_capacity;
    Py_ssize_t pending_head;
    long long pending_calls;
    long long pending_slows;
    unsigned long long pending_epoch;
    /* A breaker on a shared memory segment: its slot, decided on directly (see
     * pcb_shm_call); NULL otherwise. ``shm_recover`` (borrowed) undoes the update of a
     * process that died holding the slot's mutex; times are compared here only when
     * the segment's clock is the host's (``shm_real_clock``). */
    char *shm_slot;
    PyObject *shm_recover;
    int shm_real_clock;
    int shm_net_error;
    int shm_paused; /* the shared state's local stand-in decides: hand every call over */
} pcb_core;

/* pcb_admit's answer: the state a call runs in, PCB_PERMIT added when it holds a
 * half-open permit; or -1 with a rejection (or another error) set, or PCB_USE_FALLBACK. */
#define PCB_PERMIT 0x100
#define PCB_STATE_MASK 0xff
#define PCB_USE_FALLBACK -2 /* rejected, nothing set: run the fallback instead */

/* What a wrapper calls: a field of the Cython CircuitWrapper. ``vectorcall`` must stay
 * first: the type's tp_vectorcall_offset points at it. The pointers are borrowed; the
 * wrapper's object fields own them. */
typedef struct {
    vectorcallfunc vectorcall;
    PyObject *breaker;
    PyObject *func;
} pcb_target;

/* Set once at import by _core_c.pyx. */
static int PCB_CLOSED;
static int PCB_OPEN;
static int PCB_FORCED_OPEN;
static int PCB_DISABLED;
static int PCB_METRICS_ONLY;
static int PCB_SHARED;
static Py_ssize_t pcb_core_offset;
static Py_ssize_t pcb_target_offset;
/* Slow paths (Cython). pcb_admit answers as above and stores the generation the call
 * is admitted in; pcb_record_exception fails only when a callback raised a BaseException
 * that is not an Exception; all return -1 only with an exception set. */
static int (*pcb_admit)(PyObject *breaker, int with_fallback, unsigned long long *generation);
static int (*pcb_record_exception)(PyObject *breaker, PyObject *error,
                                   unsigned long long generation, double start);
static int (*pcb_record_error)(PyObject *breaker, PyObject *cause, unsigned long long generation,
                               double start);
static int (*pcb_record_success)(PyObject *breaker, unsigned long long generation, double start);
/* The breaker's clock, when one was injected: -1.0 with an exception set on failure. */
static double (*pcb_now)(PyObject *breaker);
/* _misuse.never_ran for an error whose traceback has frames: 1 or 0, -1 on failure. */
static int (*pcb_only_call_path)(PyObject *error);
/* A shared breaker's slow paths, each a hand-over to its shared state: reject from the
 * view (as pcb_admit does); settle a call admitted here that raised ``error``, returned
 * a ``result`` detect_error flagged, or succeeded where the view alone cannot settle it.
 * ``epoch`` is the view's when the call was admitted. */
static int (*pcb_shared_reject)(PyObject *breaker, int with_fallback, double now);
static int (*pcb_shared_exception)(PyObject *breaker, PyObject *error,
                                   unsigned long long epoch, double start);
static int (*pcb_shared_flagged)(PyObject *breaker, PyObject *result,
                                 unsigned long long epoch, double start);
static int (*pcb_shared_success)(PyObject *breaker, unsigned long long epoch, double start);
/* A shared memory slot's slow paths (Cython): an exception of a call admitted on the
 * slot, and a rejection read from it. */
static int (*pcb_shm_exception)(PyObject *breaker, PyObject *error,
                                unsigned long long epoch, double start);
static int (*pcb_shm_reject)(PyObject *breaker, int with_fallback, int state,
                             long long errors, double remaining);

#define PCB_CORE(breaker) ((pcb_core *)((char *)(breaker) + pcb_core_offset))

/* Whether ``error``, with ``traceback``, was raised by making the call rather than by
 * the callee (see _misuse.never_ran): a TypeError with no frame at all, or only frames
 * of the breakers' own (a breaker nested in this one), is not counted. */
static int pcb_never_ran(PyObject *error, PyObject *traceback) {
    int verdict;
    /* A type check, not PyErr_GivenExceptionMatches: this runs on every counted error. */
    if (!PyObject_TypeCheck(error, (PyTypeObject *)PyExc_TypeError)) return 0;
    if (traceback == NULL) return 1;
    verdict = pcb_only_call_path(error);
    if (verdict < 0) {
        PyErr_Clear(); /* undecided: counted, as any error */
        return 0;
    }
    return verdict;
}

/* Count ``error`` (of ``type``, with ``traceback``: used before 3.11 only) with it as
 * the exception being handled, as in the pure twin's ``except`` clause: callbacks see it
 * in sys.exc_info(), and one that raises gets it as its __context__. */
typedef int (*pcb_recorder)(PyObject *breaker, PyObject *error,
                            unsigned long long generation, double start);

static int pcb_record_handling(pcb_recorder record, PyObject *breaker, PyObject *type,
                               PyObject *error, PyObject *traceback,
                               unsigned long long generation, double start) {
    int result;
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *handled = PyErr_GetHandledException();
    (void)type;
    (void)traceback;
    PyErr_SetHandledException(error);
    result = record(breaker, error, generation, start);
    PyErr_SetHandledException(handled);
    Py_XDECREF(handled);
#else
    PyObject *old_type, *old_value, *old_traceback;
    PyErr_GetExcInfo(&old_type, &old_value, &old_traceback);
    Py_INCREF(type);
    Py_INCREF(error);
    Py_XINCREF(traceback);
    PyErr_SetExcInfo(type, error, traceback);
    result = record(breaker, error, generation, start);
    PyErr_SetExcInfo(old_type, old_value, old_traceback);
#endif
    return result;
}

/* Count the pending exception if it is an Exception and the callee ran. It stays
 * pending, untouched, unless counting it fired a callback that raised a BaseException
 * (see _events): that one is pending instead, with the call's error as its context. */
static void pcb_after_exception(pcb_recorder record, PyObject *breaker,
                                unsigned long long generation, double start) {
    /* BaseExceptions that are not Exceptions (KeyboardInterrupt, ...) never count. */
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return;
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *error = PyErr_GetRaisedException();
    PyObject *traceback = PyException_GetTraceback(error);
    int never_ran = pcb_never_ran(error, traceback);
    Py_XDECREF(traceback);
    if (!never_ran && pcb_record_handling(record, breaker, NULL, error, NULL, generation, start) < 0) {
        PyObject *raised = PyErr_GetRaisedException();
        PyException_SetContext(raised, error); /* steals error */
        PyErr_SetRaisedException(raised);
        return;
    }
    PyErr_SetRaisedException(error);
#else
    PyObject *type, *error, *traceback;
    PyErr_Fetch(&type, &error, &traceback);
    PyErr_NormalizeException(&type, &error, &traceback);
    if (traceback != NULL) PyException_SetTraceback(error, traceback);
    if (!pcb_never_ran(error, traceback)
            && pcb_record_handling(record, breaker, type, error, traceback, generation, start) < 0) {
        PyObject *raised_type, *raised, *raised_traceback;
        PyErr_Fetch(&raised_type, &raised, &raised_traceback);
        PyErr_NormalizeException(&raised_type, &raised, &raised_traceback);
        if (raised_traceback != NULL) PyException_SetTraceback(raised, raised_traceback);
        PyException_SetContext(raised, error); /* steals error */
        Py_DECREF(type);
        Py_XDECREF(traceback);
        PyErr_Restore(raised_type, raised, raised_traceback);
        return;
    }
    PyErr_Restore(type, error, traceback);
#endif
}

/* Judge a call's ``result`` by detect_error, and count it with ``record`` if flagged.
 * Return 1 if flagged, 0 if not, -1 with an exception set. Called from the hot path
 * rather than from the Cython slow path: this runs on every call of a breaker with a
 * detector, CLOSED ones included. */
static int pcb_detected(pcb_core *core, pcb_recorder record, PyObject *breaker,
                        PyObject *result, unsigned long long generation, double start) {
    PyObject *verdict = PyObject_Vectorcall(core->detect_error, &result, 1, NULL);
    int flagged;
    if (verdict == Py_False || verdict == Py_None) {
        flagged = 0; /* the usual answers, settled without a call */
    } else {
        flagged = verdict == NULL ? -1 : PyObject_IsTrue(verdict);
    }
    Py_XDECREF(verdict);
    if (flagged > 0) flagged = record(breaker, result, generation, start) < 0 ? -1 : 1;
    return flagged;
}

/* Give back a half-open permit; a transition since admission already took it. */
static void pcb_release(pcb_core *core, unsigned long long generation) {
    if (generation == core->generation && core->permits_in_use > 0) core->permits_in_use--;
}

/* Hand a whole call to a shared breaker's state: shared_call(func, *args, **kwargs). */
static PyObject *pcb_delegate(PyObject *shared_call, PyObject *func, PyObject *const *args,
                              size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t total = nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
    PyObject *small[8];
    PyObject **stack = small;
    PyObject *result;
    if (total + 1 > 8) {
        stack = (PyObject **)PyMem_Malloc((size_t)(total + 1) * sizeof(PyObject *));
        if (stack == NULL) return PyErr_NoMemory();
    }
    stack[0] = func;
    memcpy(stack + 1, args, (size_t)total * sizeof(PyObject *));
    result = PyObject_Vectorcall(shared_call, stack, (size_t)(nargs + 1), kwnames);
    if (stack != small) PyMem_Free(stack);
    return result;
}

/* Whether a shared breaker's view, fresh at ``now``, admits calls with no round trip. */
#define PCB_VIEW_ADMITS(core) ((core)->view_state == PCB_CLOSED \
    || (core)->view_state == PCB_DISABLED || (core)->view_state == PCB_METRICS_ONLY)

/* Add a windowed success to the batch; 0 when the view moved on since the call was
 * admitted, so the shared state must take it. */
static int pcb_pend(pcb_core *core, unsigned long long epoch, int slow) {
    if (epoch != core->view_epoch) return 0;
    if (epoch != core->pending_epoch) {
        /* Only the newest epoch's outcomes can count: the storage drops the others. */
        core->pending_calls = core->pending_slows = 0;
        core->pending_head = 0;
        core->pending_epoch = epoch;
    }
    if (core->pending != NULL) {
        core->pending[core->pending_head] = slow ? '2' : '0';
        if (++core->pending_head == core->pending_capacity) core->pending_head = 0;
    }
    core->pending_calls++;
    core->pending_slows += slow;
    return 1;
}

/* Whether a count window with this success batched could open: then it goes at once.
 * An upper bound from the view (SharedState._may_open is the same rule): the window's
 * calls and the batch's, at most its size, with every failure and slow call the view
 * knows still in it. A time window's batch waits for its refresh. */
static int pcb_may_open(pcb_core *core, unsigned long long epoch, int slow) {
    long long calls, slows;
    if (core->pending == NULL) return 0;
    if (core->view_errors == 0 && !core->timed) return 0; /* the usual case: no failure */
    calls = core->view_calls + 1;
    slows = core->view_slows + slow;
    if (epoch == core->pending_epoch) {
        calls += core->pending_calls;
        slows += core->pending_slows;
    }
    if (calls > core->pending_capacity) calls = core->pending_capacity;
    if (calls < core->minimum_calls) return 0;
    /* Ratios, as the cores compare them. */
    return (double)core->view_errors / (double)calls >= core->failure_rate
        || (core->timed && (double)slows / (double)calls >= core->slow_call_rate);
}

/* Run func(*args, **kwargs) through a breaker on a shared memory slot: decided here on
 * the slot when its summary says how (a CLOSED, DISABLED or METRICS_ONLY admission; a
 * success with nothing to reset, or one that resets the count; an error that opens
 * nothing, counted in the slot; a rejection while FORCED_OPEN, or OPEN before the
 * recovery time), else the shared state's, like every windowed or detect_error call. */
static PyObject *pcb_shm_call(PyObject *breaker, pcb_core *core, PyObject *func,
                              PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    char *slot = core->shm_slot;
    long long summary = pcb_shm_checked_summary(slot);
    int state = (int)(summary & 0xf);
    unsigned long long epoch = (unsigned long long)summary >> PCB_SHM_EPOCH_SHIFT;
    PyObject *result;
    if (summary < 0 || core->shm_paused || core->windowed || core->detect_error != NULL)
        return pcb_delegate(core->shared_call, func, args, nargsf, kwnames);
    if (state == PCB_CLOSED || state == PCB_DISABLED || state == PCB_METRICS_ONLY) {
        result = PyObject_Vectorcall(func, args, nargsf, kwnames);
        if (result == NULL) {
            pcb_after_exception(pcb_shm_exception, breaker, epoch, 0.0);
            return NULL;
        }
        /* Nothing to reset if the slot is as quiet now as when the call was admitted;
         * else the success resets what other processes counted meanwhile. */
        if ((summary & PCB_SHM_QUIET && pcb_shm_checked_summary(slot) == summary)
                || pcb_shm_success(slot, core->shm_recover, epoch, core->shm_net_error,
                                   PCB_CLOSED, PCB_METRICS_ONLY, PCB_DISABLED) == PCB_SHM_DONE) {
            core->successes++;
            return result;
        }
        if (pcb_shared_success(breaker, epoch, 0.0) < 0) {
            Py_DECREF(result);
            return NULL;
        }
        return result;
    }
    if (state == PCB_FORCED_OPEN || (state == PCB_OPEN && core->shm_real_clock)) {
        long long errors = pcb_shm_peek(slot, PCB_SHM_E);
        double remaining = 0.0;
        if (state == PCB_OPEN) {
            long long recover_at = pcb_shm_peek(slot, PCB_SHM_R);
            long long now = pcb_shm_now_ms();
            /* A recovery time read after a transition is another period's: read again
             * in the shared state, as is a trial call. */
            if (pcb_shm_summary(slot) != summary || now >= recover_at)
                return pcb_delegate(core->shared_call, func, args, nargsf, kwnames);
            remaining = (double)(recover_at - now) / 1000.0;
        }
        if (pcb_shm_reject(breaker, core->fallback != NULL, state, errors, remaining)
                == PCB_USE_FALLBACK)
            return PyObject_Vectorcall(core->fallback, args, nargsf, kwnames);
        return NULL;
    }
    return pcb_delegate(core->shared_call, func, args, nargsf, kwnames);
}

/* Run func(*args, **kwargs) through a shared breaker: decided here from the view when
 * it is fresh and the call needs no round trip (a CLOSED, DISABLED or METRICS_ONLY
 * admission, a success with nothing to reset, a windowed success for the batch, a
 * rejection before the recovery time); everything else is the shared state's. This is
 * the rule of SharedState.call's own fast path, inline; the differential test pins the
 * two. */
static PyObject *pcb_shared_call(PyObject *breaker, pcb_core *core, PyObject *func,
                                 PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    double now;
    double start = 0.0;
    unsigned long long epoch = core->view_epoch;
    PyObject *result;
    int slow = 0;
    if (core->shm_slot != NULL)
        return pcb_shm_call(breaker, core, func, args, nargsf, kwnames);
    /* view_fresh_until is early by the coarse clock's slack (see _publish): a view
     * fresh on the coarse clock is fresh on the precise one too. */
    now = pcb_monotonic_coarse();
    if (!(now < core->view_fresh_until))
        return pcb_delegate(core->shared_call, func, args, nargsf, kwnames);
    if (!PCB_VIEW_ADMITS(core)) {
        if (core->view_state == PCB_OPEN) now = pcb_monotonic(); /* the recovery time's */
        if (core->view_state == PCB_FORCED_OPEN
                || (core->view_state == PCB_OPEN && now < core->view_recover_at)) {
            if (pcb_shared_reject(breaker, core->fallback != NULL, now) == PCB_USE_FALLBACK)
                return PyObject_Vectorcall(core->fallback, args, nargsf, kwnames);
            return NULL;
        }
        /* A trial call: it needs a lease from the storage. */
        return pcb_delegate(core->shared_call, func, args, nargsf, kwnames);
    }
    if (core->timed) start = pcb_monotonic();
    result = PyObject_Vectorcall(func, args, nargsf, kwnames);
    if (result == NULL) {
        pcb_after_exception(pcb_shared_exception, breaker, epoch, start);
        return NULL;
    }
    if (core->detect_error != NULL) {
        int flagged = pcb_detected(core, pcb_shared_flagged, breaker, result, epoch, start);
        if (flagged < 0) {
            Py_DECREF(result);
            return NULL;
        }
        if (flagged) return result;
    }
    if (core->windowed) {
        /* Untimed, the admission's reading does: a batch a call late is still sent. */
        if (core->timed) {
            slow = pcb_monotonic() - start >= core->slow_call_duration;
            now = pcb_monotonic_coarse();
        }
        /* A stale view sends the batch with this call: the shared state's work. */
        if (now < core->view_fresh_until && !pcb_may_open(core, epoch, slow)
                && pcb_pend(core, epoch, slow)) {
            core->successes++;
            if (slow) core->slow_calls++;
            return result;
        }
    } else if (epoch == core->view_epoch && core->view_errors == 0 && PCB_VIEW_ADMITS(core)) {
        /* Nothing to reset, as far as this process knows: no round trip. */
        core->successes++;
        return result;
    }
    if (pcb_shared_success(breaker, epoch, start) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* Run func(*args, **kwargs) through the breaker. */
static PyObject *pcb_guarded_call(PyObject *breaker, PyObject *func, PyObject *const *args,
                                  size_t nargsf, PyObject *kwnames) {
    pcb_core *core = PCB_CORE(breaker);
    unsigned long long generation = core->generation;
    int state = core->state;
    int permit = 0;
    double start = 0.0;
    PyObject *result;
    if (state != PCB_CLOSED) {
        int admitted;
        if (state == PCB_SHARED)
            return pcb_shared_call(breaker, core, func, args, nargsf, kwnames);
        admitted = pcb_admit(breaker, core->fallback != NULL, &generation);
        if (admitted == PCB_USE_FALLBACK)
            return PyObject_Vectorcall(core->fallback, args, nargsf, kwnames);
        if (admitted < 0) return NULL;
        state = admitted & PCB_STATE_MASK;
        permit = admitted & PCB_PERMIT;
    }
    if (core->timed) {
        start = core->own_clock ? pcb_monotonic() : pcb_now(breaker);
        if (start == -1.0 && PyErr_Occurred()) {
            if (permit) pcb_release(core, generation);
            return NULL;
        }
    }
    result = PyObject_Vectorcall(func, args, nargsf, kwnames);
    /* Every way a call can end gives its permit back, BaseExceptions included. */
    if (permit) pcb_release(core, generation);
    if (result == NULL) {
        pcb_after_exception(pcb_record_exception, breaker, generation, start);
        return NULL;
    }
    if (core->detect_error != NULL) {
        int flagged = pcb_detected(core, pcb_record_error, breaker, result, generation, start);
        if (flagged < 0) {
            Py_DECREF(result);
            return NULL;
        }
        if (flagged) return result;
    }
    core->successes++;
    /* A plain success while CLOSED with no errors counted and no window to record it
     * in changes nothing. */
    if (state != PCB_CLOSED || core->error_count || core->windowed) {
        if (pcb_record_success(breaker, generation, start) < 0) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

static PyObject *pcb_wrapper_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                        PyObject *kwnames) {
    pcb_target *target = (pcb_target *)((char *)self + pcb_target_offset);
    /* nargsf passes through as is: the caller's PY_VECTORCALL_ARGUMENTS_OFFSET grant
     * applies to the same array. */
    return pcb_guarded_call(target->breaker, target->func, args, nargsf, kwnames);
}

static void pcb_target_set(pcb_target *target, PyObject *breaker, PyObject *func) {
    target->vectorcall = pcb_wrapper_vectorcall;
    target->breaker = breaker;
    target->func = func;
}

static PyObject *pcb_call_method(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames) {
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError,
                        "call() missing 1 required positional argument: 'func'");
        return NULL;
    }
    return pcb_guarded_call(self, args[0], args + 1, (size_t)(nargs - 1), kwnames);
}

static PyMethodDef pcb_call_def = {
    "call", (PyCFunction)(void (*)(void))pcb_call_method, METH_FASTCALL | METH_KEYWORDS,
    "call($self, func, /, *args, **kwargs)\n--\n\n"
    "Run ``func(*args, **kwargs)`` through the breaker and return its result."};

/* Give the breaker its FASTCALL ``call`` and the wrapper its vectorcall slot; Cython
 * can declare neither. */
static int pcb_install(PyTypeObject *breaker_type, PyTypeObject *wrapper_type) {
    PyObject *descr = PyDescr_NewMethod(breaker_type, &pcb_call_def);
    if (descr == NULL) return -1;
    if (PyDict_SetItemString(breaker_type->tp_dict, "call", descr) < 0) {
        Py_DECREF(descr);
        return -1;
    }
    Py_DECREF(descr);
    PyType_Modified(breaker_type);
    wrapper_type->tp_vectorcall_offset = pcb_target_offset;
    wrapper_type->tp_flags |= Py_TPFLAGS_HAVE_VECTORCALL;
    PyType_Modified(wrapper_type);
    return 0;
}

#endif /* PCB_HOT_PATH_H */
