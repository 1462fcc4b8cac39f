"""JSV (xbtcpay/web/jsv.py): round trips of every type of the purchase service, the documented
samples, hostile texts, and arbitrary values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.clients.servicestack_client import read_jsv, write_jsv
from xbtcpay.web import jsv

NASTY = 'Me, Junior "the [second]" {of} 2'
CREDIT_CARD = {"Number": "", "Month": 0, "Year": 0, "CCV": " 12 "}
SELECTED_PRODUCT = {"Token": "gem_pack,12m"}
PAYMENT_TOKEN = {"Type": "ApplePay", "Token": 'eyJ{"a":[1,2]}=='}
PURCHASE = {
    "PurchaseToken": NASTY,
    "Card": CREDIT_CARD,
    "Product": SELECTED_PRODUCT,
    "UseStoredCard": False,
    "UseDiamonds": True,
    "Token": PAYMENT_TOKEN,
    "Currency": None,
}
RECEIPT_AMOUNT = {"Total": Decimal("11.00"), "Tax": Decimal("1.00"), "AmountLessTax": Decimal("10")}
RECEIPT = {
    "Amount": RECEIPT_AMOUNT,
    "Company": 'Example, Pty "Ltd"',
    "ABN": "51 824 753 556",
    "ReceiptNumber": "XB-000001",
    "CreditCardNumber": "Visa **** 1111",
    "Url": "https://pay.example/receipts/a?b=c,d",
}
RESPONSE_STATUS = {
    "ErrorCode": "InvalidRequest",
    "Message": "body must be JSV",
    "Errors": [
        {"ErrorCode": "NotEmpty", "FieldName": "PurchaseToken", "Message": "'x', or \"y\""},
        {"ErrorCode": "Range", "FieldName": "Month", "Message": None},
    ],
}
PURCHASE_RESPONSE = {
    "PaymentSuccess": True,
    "PaymentResponse": "Success",
    "ErrorCode": "",
    "ErrorMessage": None,
    "Receipt": RECEIPT,
    "ResponseStatus": RESPONSE_STATUS,
}
TYPES = {
    "PurchaseRequest": PURCHASE,
    "CreditCard": CREDIT_CARD,
    "SelectedProduct": SELECTED_PRODUCT,
    "PaymentToken": PAYMENT_TOKEN,
    "PurchaseResponse": PURCHASE_RESPONSE,
    "PurchaseReceipt": RECEIPT,
    "ReceiptAmount": RECEIPT_AMOUNT,
    "ResponseStatus": RESPONSE_STATUS,
    "ErrorList": [RESPONSE_STATUS["Errors"], [], ["a", None, "b"]],
}


def as_text(value: Any) -> Any:
    """What a JSV reader gives back for ``value``: text scalars, nulls in objects left out."""
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if value is None:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


@pytest.mark.parametrize("name", sorted(TYPES))
def test_every_type_round_trips(name: str) -> None:
    value = TYPES[name]
    text = jsv.dumps(value)
    assert jsv.loads(text) == as_text(value)
    assert read_jsv(text) == as_text(value)  # the client's own reader agrees
    assert jsv.loads(write_jsv(value)) == as_text(value)  # and so does its writer


def test_the_exact_texts() -> None:
    assert jsv.dumps({"Name": "Me, Junior"}) == '{Name:"Me, Junior"}'
    assert jsv.dumps({"Q": 'say "hi"', "E": "", "N": None, "L": [1, None, "x"]}) == (
        '{Q:"say ""hi""",E:"",L:[1,,x]}'
    )
    assert jsv.dumps(RECEIPT_AMOUNT) == "{Total:11.00,Tax:1.00,AmountLessTax:10}"
    assert jsv.dumps(True) == "True" and jsv.dumps(Decimal("1E+3")) == "1000"
    with pytest.raises(TypeError):
        jsv.dumps({"f": 1.5})
    with pytest.raises(TypeError):
        jsv.dumps(Decimal("NaN"))


def test_the_documented_samples_read() -> None:
    request = """{
PurchaseToken: String,
Card:
{
Number: String,
Month: 0,
Year: 0,
CCV: String
},
Product:
{
Token: String
},
UseStoredCard: False,
UseDiamonds: False,
Token:
{
Type: ApplePay,
Token: String
}
}"""
    assert jsv.loads(request) == {
        "PurchaseToken": "String",
        "Card": {"Number": "String", "Month": "0", "Year": "0", "CCV": "String"},
        "Product": {"Token": "String"},
        "UseStoredCard": "False",
        "UseDiamonds": "False",
        "Token": {"Type": "ApplePay", "Token": "String"},
    }
    response = (
        "{ PaymentSuccess: False, PaymentResponse: TokenAcquisitionFailed, ErrorCode: String,"
        " ErrorMessage: String, Receipt: { Amount: { Total: 0, Tax: 0, AmountLessTax: 0 },"
        " Company: String, ABN: String, ReceiptNumber: String, CreditCardNumber: String } }"
    )
    assert jsv.loads(response)["Receipt"]["Amount"] == {
        "Total": "0",
        "Tax": "0",
        "AmountLessTax": "0",
    }


@pytest.mark.parametrize(
    "text",
    [
        "{A:1",
        "{A:1}}",
        "{A 1}",
        "{:1}",
        "{A:1,A:2}",
        '{A:"unterminated}',
        '{A:"x"y}',
        "[1,2",
        "{A:b{c}}",
        "[" * 70 + "]" * 70,
    ],
)
def test_malformed_texts_are_refused(text: str) -> None:
    with pytest.raises(jsv.JsvError):
        jsv.loads(text)


def test_empty_values_and_white_space() -> None:
    assert jsv.loads('{A:,B:"",C: x y ,D:[,]}') == {
        "A": None,
        "B": "",
        "C": "x y",
        "D": [None, None],
    }
    assert jsv.loads("[]") == [] and jsv.loads("{}") == {}


names = st.text(min_size=1, max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        # a list of one null is written [], as ServiceStack does: it reads back empty
        st.lists(inner, max_size=4).filter(lambda items: items != [None]),
        st.dictionaries(names, inner, max_size=4),
    ),
    max_leaves=20,
)


@given(st.dictionaries(names, values, max_size=5))
def test_any_value_round_trips(value: dict[str, Any]) -> None:
    expected = as_text(value)
    assert jsv.loads(jsv.dumps(value)) == expected


@given(st.text(alphabet=st.sampled_from('{}[],:" \nab1'), max_size=60) | st.text(max_size=60))
def test_any_text_reads_or_is_refused_with_a_jsv_error(text: str) -> None:
    try:
        value = jsv.loads(text)
    except jsv.JsvError:
        return
    assert jsv.loads(jsv.dumps(value)) == as_text(value) or value in ([None],)
