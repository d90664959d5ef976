{ Offline tests of the unit's parsing and ids: run by ./build.sh test.
  (The HTTP behaviour is tested by the conformance program against the agent.) }
program tests;

{$mode delphi}{$H+}

uses
  SysUtils, tezgah;

var
  Failed: Integer = 0;

procedure Eq(const Got, Want, What: string);
begin
  if Got <> Want then
  begin
    Inc(Failed);
    WriteLn('FAIL ', What, ': got [', Got, '] want [', Want, ']');
  end;
end;

var
  R: TTezgahResult;
  E: TTezgahEvent;
  C: TTezgahClient;
  Id: string;
  I: Integer;
begin
  R := ParseResult('{"type":"result","id":"R1-1","register":"kasa-1","seq":9007199254740993,"replay":true,"status":"approved",' +
    '"payment":{"provider":"iyzico","payment_id":"29811001","auth_code":"100001","amount":"150.10","currency":"TRY",' +
    '"masked_pan":"552879******0008","batch_no":"1","detail":{"totals":[{"n":"62.50"}]}}}');
  Eq(R.Id, 'R1-1', 'id');
  Eq(R.Status, 'approved', 'status');
  Eq(IntToStr(R.Seq), '9007199254740993', 'big seq');
  Eq(BoolToStr(R.Replay, True), 'True', 'replay');
  Eq(R.Payment.Amount, '150.10', 'amount stays text');
  Eq(R.Payment.AuthCode, '100001', 'auth');
  Eq(R.Payment.Detail, '{ "totals" : [{ "n" : "62.50" }] }', 'detail raw');

  R := ParseResult('{"type":"result","id":"R1-2","seq":5,"status":"declined","error":{"code":"card_declined","message":"Yetersiz bakiye"}}');
  Eq(R.ErrorCode, 'card_declined', 'error code');
  Eq(BoolToStr(R.HasPayment, True), 'False', 'no payment');
  Eq(BoolToStr(R.Replay, True), 'False', 'not a replay');

  E := ParseEvent('{"type":"state","id":"T-1","seq":72,"state":"waiting","attempt":1,"action_url":"http://127.0.0.1:1/v1/3ds/x"}');
  Eq(E.State, 'waiting', 'state');
  Eq(E.ActionUrl, 'http://127.0.0.1:1/v1/3ds/x', 'action url');

  try
    ParseEvent('[1]');
    Inc(Failed);
    WriteLn('FAIL accepted a non-object');
  except
    on X: ETezgahError do
      Eq(X.Code, 'invalid_answer', 'non-object');
  end;

  C := TTezgahClient.Create('ws://127.0.0.1:1/v1/ws', StringOfChar('k', 64));
  try
    Id := C.NewId;
    Eq(IntToStr(Length(Id)), '64', 'id length capped');
    for I := 1 to Length(Id) do
      if not (Id[I] in ['A'..'Z', 'a'..'z', '0'..'9', '-']) then
        Eq(Id, '', 'id characters');
  finally
    C.Free;
  end;
  try
    TTezgahClient.Create('http://x', 'bad name').Free;
    Inc(Failed);
    WriteLn('FAIL accepted a register name with a space');
  except
    on EArgumentException do;
  end;

  if Failed = 0 then
    WriteLn('pascal tests: ok')
  else
    WriteLn('pascal tests: ', Failed, ' failed');
  ExitCode := Ord(Failed > 0);
end.
