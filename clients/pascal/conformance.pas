{ The client-kit conformance program (CLIENTS-SHAPE.md: one step per
  process). Prints "OK <step> ..." or "FAIL <step> <why>" and exits 0 or 1.
    ./bin/conformance --url URL --register NAME --step STEP [--id ID] [--terminal T] [--amount A]
  ACTION, INFLIGHT and BUSY lines tell the runner what happens meanwhile.
  (--cursor is accepted and ignored: the HTTP door needs no cursor.) }
program conformance;

{$mode delphi}{$H+}

uses
  SysUtils, fpjson, tezgah;

type
  TWatch = class
    Step, Watched: string;
    Inflight: Boolean;
    procedure State(const E: TTezgahEvent);
    procedure Busy(const Id: string; DelayMs: Integer);
  end;

var
  Args: array of string;
  W: TWatch;
  C: TTezgahClient;
  Ok: string;

procedure Say(const Line: string);
begin
  WriteLn(Line);
  Flush(Output);
end;

function Arg(const Name, Def: string): string;
var
  I: Integer;
begin
  Result := Def;
  I := 0;
  while I + 1 <= High(Args) do
  begin
    if Args[I] = '--' + Name then
      Result := Args[I + 1];
    Inc(I, 2);
  end;
end;

procedure TWatch.State(const E: TTezgahEvent);
begin
  if (E.State = 'waiting') and (E.ActionUrl <> '') and (E.Id = Watched) then
    Say('ACTION ' + E.ActionUrl);
  if (Step = 'kill_restart') and (E.Id = Watched) and (E.State = 'sending') and not Inflight then
  begin
    Inflight := True;
    Say('INFLIGHT ' + E.Id);
  end;
end;

procedure TWatch.Busy(const Id: string; DelayMs: Integer);
begin
  Say('BUSY ' + Id + ' ' + IntToStr(DelayMs));
end;

function Want(const R: TTezgahResult; const Status, What: string): TTezgahResult;
begin
  if R.Status <> Status then
    raise Exception.Create(What + ': want ' + Status + ', got ' + R.Status + ' ' + R.ErrorCode + ' ' + R.ErrorMessage);
  Result := R;
end;

function Run: string;
var
  Sale, Sale2, First, Again, R: TTezgahResult;
  Q: TTezgahEvent;
  Id: string;
  Extra: TJSONObject;
begin
  Result := '';
  if W.Step = 'sale_refund_void_query_eod' then
  begin
    Sale := Want(C.Sale('kasa-1', '10.00'), 'approved', 'sale');
    Want(C.Refund('kasa-1', Sale.Id, '4.00'), 'approved', 'refund');
    Sale2 := Want(C.Sale('kasa-1', '5.00'), 'approved', 'second sale');
    Want(C.Void('kasa-1', Sale2.Id), 'approved', 'void');
    Q := C.Query(Sale.Id);
    if (Q.Kind <> 'result') or not Q.Replay or (Q.Status <> 'approved') then
      raise Exception.Create('query: got ' + Q.Json);
    Want(C.EndOfDay('kasa-1'), 'approved', 'end_of_day');
  end
  else if W.Step = 'paywall_sale' then
    Want(C.Sale('kasa-3', '7.50'), 'approved', 'sale')
  else if W.Step = 'vomsis_3ds' then
  begin
    W.Watched := Arg('id', C.NewId);
    Extra := TJSONObject.Create(['card', TJSONObject.Create(['number', '4508034508034509',
      'expiry_month', '12', 'expiry_year', '2031', 'cvc', '123', 'holder', 'Zeynep Kaya'])]);
    try
      Want(C.Sale('vpos-1', '12.00', W.Watched, Extra), 'approved', 'sale');
    finally
      Extra.Free;
    end;
  end
  else if W.Step = 'kill_restart' then
  begin
    W.Watched := Arg('id', C.NewId);
    Result := C.Sale('kasa-2', '3.00', W.Watched).Status; { one call, one result }
  end
  else if W.Step = 'same_id' then
  begin
    Id := Arg('id', C.NewId);
    First := Want(C.Sale('kasa-1', '2.50', Id), 'approved', 'sale');
    Again := C.Sale('kasa-1', '2.50', Id);
    if not Again.Replay or (Again.Status <> First.Status) or (Again.Payment.PaymentId <> First.Payment.PaymentId) then
      raise Exception.Create('same body again: got ' + Again.Json);
    try
      C.Sale('kasa-1', '3.50', Id);
    except
      on E: ETezgahError do
        if E.Code = 'id_conflict' then
          Exit('')
        else
          raise Exception.Create('other body: want id_conflict, got ' + E.Code);
    end;
    raise Exception.Create('other body: want id_conflict, got a result');
  end
  else if W.Step = 'two_registers' then
    Result := Want(C.Sale('kasa-1', '2.00', Arg('id', 'R1-1')), 'approved', 'sale').Payment.PaymentId
  else if W.Step = 'busy' then
  begin
    { expires_in bounds the wait: on the runner's busy terminal nothing is ever sent. }
    Extra := TJSONObject.Create(['expires_in', StrToInt(Arg('expires-in', '5'))]);
    try
      R := C.Sale(Arg('terminal', 'kasa-1'), Arg('amount', '1.00'), Arg('id', ''), Extra);
    finally
      Extra.Free;
    end;
    if C.BusyRetries < 1 then
      raise Exception.Create('never answered busy (result ' + R.Status + ')');
    Result := IntToStr(C.BusyRetries);
  end
  else
    raise Exception.Create('unknown step');
end;

var
  I: Integer;
begin
  SetLength(Args, ParamCount);
  for I := 1 to ParamCount do
    Args[I - 1] := ParamStr(I);
  W := TWatch.Create;
  W.Step := Arg('step', '?');
  W.Watched := Arg('id', '');
  C := TTezgahClient.Create(Arg('url', 'http://127.0.0.1:8417'), Arg('register', 'conf-pascal'));
  C.OnState := W.State;
  C.OnBusy := W.Busy;
  C.CallTimeoutS := StrToIntDef(Arg('timeout', '180'), 180);
  try
    Ok := Run;
    if Ok <> '' then
      Ok := ' ' + Ok;
    Say('OK ' + W.Step + Ok);
    ExitCode := 0;
  except
    on E: Exception do
    begin
      Say('FAIL ' + W.Step + ' ' + StringReplace(E.Message, LineEnding, ' ', [rfReplaceAll]));
      ExitCode := 1;
    end;
  end;
  C.Free;
  W.Free;
end.
