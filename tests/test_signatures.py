"""help(), inspect and IDEs see every option, on both twins; a misspelled one is named."""

import inspect
import pydoc

import pytest
from conftest import load_impl, ok

from pycircuitbreaker._config import ALIASES, KEYWORD_OPTIONS, POSITIONAL_OPTIONS
from pycircuitbreaker.strategies import CircuitBreakerStrategy

OPTIONS = POSITIONAL_OPTIONS + KEYWORD_OPTIONS + tuple(ALIASES)


def described(signature):
    """Return (name, kind, default) of each parameter: what both twins must agree on."""
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_the_signature_lists_every_option(impl):
    parameters = inspect.signature(impl.CircuitBreaker).parameters
    assert list(parameters) == list(OPTIONS)
    kinds = [parameter.kind for parameter in parameters.values()]
    # The first ten by position or keyword, as 0.5.0 took them; the rest by keyword only.
    assert kinds == ([inspect.Parameter.POSITIONAL_OR_KEYWORD] * len(POSITIONAL_OPTIONS)
                     + [inspect.Parameter.KEYWORD_ONLY] * (len(OPTIONS) - len(POSITIONAL_OPTIONS)))


@pytest.mark.compiled
def test_both_twins_declare_the_same_parameters_and_defaults():
    pure, compiled = load_impl("py"), load_impl("c")
    assert described(inspect.signature(compiled.CircuitBreaker)) == described(
        inspect.signature(pure.CircuitBreaker))


@pytest.mark.compiled
def test_both_twins_document_the_same_options():
    pure, compiled = load_impl("py"), load_impl("c")
    assert inspect.getdoc(compiled.CircuitBreaker) == inspect.getdoc(pure.CircuitBreaker)


def test_the_defaults_shown_are_the_defaults_used(impl):
    # A breaker given every default explicitly is configured like one given nothing.
    defaults = {name: parameter.default
                for name, parameter in inspect.signature(impl.CircuitBreaker).parameters.items()}
    explicit = impl.CircuitBreaker(**dict(defaults, breaker_id="same")).config
    implicit = impl.CircuitBreaker(breaker_id="same").config
    assert explicit == implicit
    assert implicit.strategy is CircuitBreakerStrategy.SINGLE_RESET


def test_help_names_and_explains_every_option(impl):
    text = pydoc.render_doc(impl.CircuitBreaker, renderer=pydoc.plaintext)
    for option in POSITIONAL_OPTIONS + KEYWORD_OPTIONS:
        assert f"{option}: " in text, option
    for alias in ALIASES:
        assert f"alias {alias}" in text


def test_circuit_takes_a_function_then_every_option_by_keyword(impl):
    parameters = list(inspect.signature(impl.circuit).parameters.values())
    assert parameters[0].name == "func"
    assert parameters[0].kind is inspect.Parameter.POSITIONAL_ONLY
    assert repr(parameters[0].default) == "<no function>"
    assert [p.name for p in parameters[1:]] == list(OPTIONS)
    assert {p.kind for p in parameters[1:]} == {inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("build", [
    lambda impl: impl.CircuitBreaker(error_treshold=3),
    lambda impl: impl.circuit(error_treshold=3),
    lambda impl: impl.circuit(ok(), error_treshold=3),
])
def test_a_misspelled_option_is_refused_with_the_nearest_name(impl, build):
    with pytest.raises(TypeError, match=r"unexpected option 'error_treshold'; "
                                        r"did you mean 'error_threshold'\?"):
        build(impl)


def test_an_option_like_no_other_gets_no_suggestion(impl):
    with pytest.raises(TypeError) as raised:
        impl.CircuitBreaker(xyzzy=1)
    assert str(raised.value) == "CircuitBreaker() got an unexpected option 'xyzzy'"


def test_an_eleventh_positional_option_is_refused(impl):
    with pytest.raises(TypeError, match="takes at most 10 positional options, got 11"):
        impl.CircuitBreaker(*([None] * 11))


def test_an_alias_and_its_option_together_are_refused(impl):
    with pytest.raises(TypeError, match="got both 'exception_blacklist' and its alias "
                                        "'exception_denylist'"):
        impl.CircuitBreaker(exception_blacklist=[KeyError], exception_denylist=[KeyError])


def test_an_alias_alone_sets_its_option(impl):
    breaker = impl.CircuitBreaker(exception_allowlist=[KeyError])
    assert breaker.config.exception_whitelist == (KeyError,)


def test_the_class_signature_is_not_an_instances():
    # The pure twin shows its class's signature through a class attribute (it defines
    # __new__ too); a breaker's own is still its __call__'s: it decorates a function.
    # (inspect cannot read the compiled twin's __call__, a slot wrapper, at all.)
    breaker = load_impl("py").CircuitBreaker()
    assert list(inspect.signature(breaker).parameters) == ["func"]


def test_a_subclass_with_parameters_of_its_own_is_built(impl):
    # Its own __init__ decides its parameters: the check for unknown options is the
    # base class's, and stands aside.
    class Named(impl.CircuitBreaker):
        def __init__(self, name, **options):
            super().__init__(breaker_id=f"named-{name}", **options)

    breaker = Named(name="db", error_threshold=2)
    assert (breaker.id, breaker.config.error_threshold) == ("named-db", 2)


def test_a_subclass_without_an_init_still_names_the_nearest_option(impl):
    class Plain(impl.CircuitBreaker):
        pass

    with pytest.raises(TypeError, match="did you mean 'error_threshold'"):
        Plain(error_treshold=3)
