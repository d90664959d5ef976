{ tezgah: a register's client for the tezgah payment agent, over the HTTP
  door (docs/protocol.md, "HTTP door"), for Free Pascal 3.2 and Delphi.

  Pascal has no WebSocket in its standard library, so this unit speaks plain
  HTTP, one call at a time, and keeps the money rules:

  1. every command has a durable id (the caller's, or NewId); the register
     is named by the Tezgah-Register header on every request;
  2. POST /v1/commands is sent again, with the same id and the same body,
     until the agent answers 202 (stored) or 200 (a replay: stored before)
     - after a connection failure (the agent may be restarting) with backoff,
     and after 503 busy / 429 rate_limited after the agent's retry delay;
  3. then GET /v1/requests/ID?wait=S until the request's result. The agent
     answers a wait early only with a final result, so while the request is
     queued or sending the client asks with a short wait (1 s) to show the
     cashier each state (and the 3-D Secure page) at once; once it is
     waiting for a payer or unknown, with PollWait (25 s).

  No resume cursor is needed here: the client asks for its request by id, and
  the agent keeps every accepted request across restarts, so a poll after a
  restart finds the same request and its one result. A register that
  restarts itself asks again for the ids it had not finished (Query).

  Compiles in Delphi mode with fpc 3.2 (fphttpclient, fpjson). For Delphi
  replace the two HTTP/JSON units with System.Net.HttpClient and System.JSON;
  the rest is plain Object Pascal. }
unit tezgah;

{$mode delphi}{$H+}

interface

uses
  SysUtils, Classes, fpjson, jsonparser, fphttpclient;

type
  { A call ended without a result: Code is the protocol's stable code
    (id_conflict, invalid_amount, not_found, register_mismatch, ...) or a
    client one (timeout). }
  ETezgahError = class(Exception)
  public
    Code, Field: string;
    RetryAfterMs: Integer;
    constructor CreateCode(const ACode, AField, AMessage: string; ARetryAfterMs: Integer = 0);
  end;

  TTezgahPayment = record
    Provider, PaymentId, AuthCode, HostReference, Amount, Currency, MaskedPan, BatchNo: string;
    Detail: string; { the provider's details as raw JSON, or '' }
  end;

  { One event from the agent: accepted, state or result (and the answers to query). }
  TTezgahEvent = record
    Kind, Id, Register, State, Status, ActionUrl, Reason: string;
    Seq: Int64;
    Replay: Boolean;
    Json: string;
  end;

  { The final result: approved, declined, failed, expired or cancelled. }
  TTezgahResult = record
    Id, Status, ErrorCode, ErrorMessage: string;
    Seq: Int64;
    Replay: Boolean;
    HasPayment: Boolean;
    Payment: TTezgahPayment;
    Json: string;
    function Approved: Boolean;
  end;

  TTezgahStateEvent = procedure(const E: TTezgahEvent) of object;
  TTezgahConnectionEvent = procedure(Up: Boolean; const Why: string) of object;
  TTezgahBusyEvent = procedure(const Id: string; DelayMs: Integer) of object;

  TTezgahClient = class
  private
    FBaseUrl, FRegister: string;
    FBusyRetries: Integer;
    FLastUp: Boolean;
    function Http(const Method, Path, Body: string; out Status: Integer; out RetryAfterS: Integer): string;
    function Post(const Id, Body: string): TTezgahEvent;
    function Wait(const First: TTezgahEvent): TTezgahResult;
    procedure Connection(Up: Boolean; const Why: string);
    procedure Backoff(var DelayMs: Integer; Deadline: TDateTime);
    function Cmd(const Kind, Id: string; Extra: TJSONObject): TJSONObject;
    function SendNew(const Kind, Id: string; Fields: TJSONObject): TTezgahResult;
    function Ask(const Kind, Id: string): TTezgahEvent;
  public
    Token: string;                { pairing token (optional) }
    PollWait: Integer;            { seconds per long poll, 1..60; default 25 }
    CallTimeoutS: Integer;        { how long Send waits for a result; default 300 }
    OnState: TTezgahStateEvent;   { accepted and state events (waiting carries ActionUrl) }
    OnConnection: TTezgahConnectionEvent;
    OnBusy: TTezgahBusyEvent;     { a command refused busy / rate_limited, sent again after DelayMs }
    { BaseUrl like http://127.0.0.1:8417 (a ws://.../v1/ws URL is taken too). }
    constructor Create(const BaseUrl, RegisterName: string);
    { register-yyyymmddhhnnss-XXXXXX (UTC; the register part cut to keep ids <= 64) }
    function NewId: string;
    function Sale(const Terminal, Amount: string; const Id: string = ''; Extra: TJSONObject = nil): TTezgahResult;
    function Refund(const Terminal, OriginalId, Amount: string; const Id: string = ''): TTezgahResult;
    function Void(const Terminal, OriginalId: string; const Id: string = ''): TTezgahResult;
    function EndOfDay(const Terminal: string; Summary: Boolean = False; const Id: string = ''): TTezgahResult;
    { Sends a storing command (its JSON must carry Id) and waits for its result. }
    function Send(const Id, Body: string): TTezgahResult;
    { The request's latest event (a replay), or ETezgahError not_found. }
    function Query(const Id: string): TTezgahEvent;
    { Waits for the result of a request sent before (e.g. before the register restarted). }
    function Resume(const Id: string): TTezgahResult;
    { Asks to cancel a request not yet sent: the answer (its result, cancelled) or
      ETezgahError not_cancellable (it may have reached the provider: wait for it). }
    function Cancel(const Id: string): TTezgahEvent;
    function Status: string;
    { How many times a command was sent again after busy or rate_limited. }
    property BusyRetries: Integer read FBusyRetries;
    property RegisterName: string read FRegister;
  end;

function ParseEvent(const Text: string): TTezgahEvent;
function ParseResult(const Text: string): TTezgahResult;

implementation

uses
  DateUtils;

procedure Merge(C, Extra: TJSONObject); forward;

{ Ids may hold ':' and '/': escape all but the unreserved characters. }
function PathEscape(const S: string): string;
var
  C: Char;
begin
  Result := '';
  for C in S do
    if C in ['A'..'Z', 'a'..'z', '0'..'9', '.', '_', '-', '~'] then
      Result := Result + C
    else
      Result := Result + '%' + IntToHex(Ord(C), 2);
end;

constructor ETezgahError.CreateCode(const ACode, AField, AMessage: string; ARetryAfterMs: Integer);
var
  F: string;
begin
  F := '';
  if AField <> '' then
    F := ' (' + AField + ')';
  inherited Create(ACode + F + ': ' + AMessage);
  Code := ACode;
  Field := AField;
  RetryAfterMs := ARetryAfterMs;
end;

function TTezgahResult.Approved: Boolean;
begin
  Result := Status = 'approved';
end;

function Str(O: TJSONObject; const Key: string): string;
var
  D: TJSONData;
begin
  Result := '';
  if O = nil then
    Exit;
  D := O.Find(Key);
  if (D <> nil) and not (D.JSONType in [jtNull, jtObject, jtArray]) then
    Result := D.AsString;
end;

function ParseObject(const Text: string): TJSONObject;
var
  D: TJSONData;
begin
  D := GetJSON(Text);
  if not (D is TJSONObject) then
  begin
    D.Free;
    raise ETezgahError.CreateCode('invalid_answer', '', 'the agent answered: ' + Copy(Text, 1, 200));
  end;
  Result := TJSONObject(D);
end;

function ParseEvent(const Text: string): TTezgahEvent;
var
  O: TJSONObject;
begin
  O := ParseObject(Text);
  try
    Result.Kind := Str(O, 'type');
    Result.Id := Str(O, 'id');
    Result.Register := Str(O, 'register');
    Result.State := Str(O, 'state');
    Result.Status := Str(O, 'status');
    Result.ActionUrl := Str(O, 'action_url');
    Result.Reason := Str(O, 'reason');
    Result.Seq := StrToInt64Def(Str(O, 'seq'), -1);
    Result.Replay := Str(O, 'replay') = 'True';
    Result.Json := Text;
  finally
    O.Free;
  end;
end;

function ParseResult(const Text: string): TTezgahResult;
var
  O, P, E: TJSONObject;
  D: TJSONData;
begin
  O := ParseObject(Text);
  try
    Result.Id := Str(O, 'id');
    Result.Status := Str(O, 'status');
    Result.Seq := StrToInt64Def(Str(O, 'seq'), -1);
    Result.Replay := Str(O, 'replay') = 'True';
    Result.Json := Text;
    P := nil;
    if O.Find('payment') is TJSONObject then
      P := TJSONObject(O.Find('payment'));
    Result.HasPayment := P <> nil;
    Result.Payment.Provider := Str(P, 'provider');
    Result.Payment.PaymentId := Str(P, 'payment_id');
    Result.Payment.AuthCode := Str(P, 'auth_code');
    Result.Payment.HostReference := Str(P, 'host_reference');
    Result.Payment.Amount := Str(P, 'amount');
    Result.Payment.Currency := Str(P, 'currency');
    Result.Payment.MaskedPan := Str(P, 'masked_pan');
    Result.Payment.BatchNo := Str(P, 'batch_no');
    Result.Payment.Detail := '';
    if P <> nil then
    begin
      D := P.Find('detail');
      if D <> nil then
        Result.Payment.Detail := D.AsJSON;
    end;
    E := nil;
    if O.Find('error') is TJSONObject then
      E := TJSONObject(O.Find('error'));
    Result.ErrorCode := Str(E, 'code');
    Result.ErrorMessage := Str(E, 'message');
  finally
    O.Free;
  end;
end;

{ The error event an HTTP answer carries, as an exception. }
function ErrorOf(const Text: string; Status: Integer): ETezgahError;
var
  O, E: TJSONObject;
begin
  try
    O := ParseObject(Text);
  except
    Exit(ETezgahError.CreateCode('http_' + IntToStr(Status), '', Copy(Text, 1, 200)));
  end;
  try
    E := nil;
    if O.Find('error') is TJSONObject then
      E := TJSONObject(O.Find('error'));
    Result := ETezgahError.CreateCode(Str(E, 'code'), Str(E, 'field'), Str(E, 'message'),
      StrToIntDef(Str(E, 'retry_after_ms'), 0));
  finally
    O.Free;
  end;
end;

constructor TTezgahClient.Create(const BaseUrl, RegisterName: string);
var
  C: Char;
  U: string;
begin
  inherited Create;
  if (Length(RegisterName) < 1) or (Length(RegisterName) > 64) then
    raise EArgumentException.Create('register must be 1-64 of A-Z a-z 0-9 . _ -');
  for C in RegisterName do
    if not (C in ['A'..'Z', 'a'..'z', '0'..'9', '.', '_', '-']) then
      raise EArgumentException.Create('register must be 1-64 of A-Z a-z 0-9 . _ -');
  U := BaseUrl;
  if Copy(U, 1, 5) = 'ws://' then
    U := 'http://' + Copy(U, 6, MaxInt);
  if Copy(U, 1, 6) = 'wss://' then
    U := 'https://' + Copy(U, 7, MaxInt);
  if Copy(U, Length(U) - 5, 6) = '/v1/ws' then
    SetLength(U, Length(U) - 6);
  while (U <> '') and (U[Length(U)] = '/') do
    SetLength(U, Length(U) - 1);
  FBaseUrl := U;
  FRegister := RegisterName;
  FLastUp := True;
  PollWait := 25;
  CallTimeoutS := 300;
  Randomize;
end;

function TTezgahClient.NewId: string;
const
  B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
var
  I: Integer;
  G: TGUID;
begin
  { CreateGUID draws from the OS (/dev/urandom, CoCreateGuid): two registers
    started in the same millisecond still get different ids; Random would not. }
  if CreateGUID(G) <> 0 then
    raise ETezgahError.CreateCode('no_random', '', 'the OS gave no random bytes for a new id');
  Result := Copy(FRegister, 1, 42) + '-' +
    FormatDateTime('yyyymmddhhnnss', LocalTimeToUniversal(Now)) + '-';
  for I := 0 to 5 do
    Result := Result + B32[1 + G.D4[I + 2] and 31];
end;

function TTezgahClient.Cmd(const Kind, Id: string; Extra: TJSONObject): TJSONObject;
begin
  Result := TJSONObject.Create;
  Result.Add('type', Kind);
  if Id <> '' then
    Result.Add('id', Id);
  Merge(Result, Extra);
end;

procedure Merge(C, Extra: TJSONObject);
var
  I: Integer;
begin
  if Extra <> nil then
    for I := 0 to Extra.Count - 1 do
      C.Add(Extra.Names[I], Extra.Items[I].Clone);
end;

{ SendNew sends command Kind with Fields (which it frees) under Id, or a
  new id when Id is empty. }
function TTezgahClient.SendNew(const Kind, Id: string; Fields: TJSONObject): TTezgahResult;
var
  C: TJSONObject;
  RealId, Body: string;
begin
  try
    RealId := Id;
    if RealId = '' then
      RealId := NewId;
    C := Cmd(Kind, RealId, Fields);
    try
      Body := C.AsJSON;
    finally
      C.Free;
    end;
  finally
    Fields.Free;
  end;
  Result := Send(RealId, Body);
end;

function TTezgahClient.Sale(const Terminal, Amount, Id: string; Extra: TJSONObject): TTezgahResult;
var
  F: TJSONObject;
begin
  F := TJSONObject.Create;
  F.Add('terminal', Terminal);
  F.Add('amount', Amount); { a decimal string, never a float }
  Merge(F, Extra);         { card, items, customer, expires_in, ... }
  Result := SendNew('sale', Id, F);
end;

function TTezgahClient.Refund(const Terminal, OriginalId, Amount, Id: string): TTezgahResult;
var
  F: TJSONObject;
begin
  F := TJSONObject.Create;
  F.Add('terminal', Terminal);
  F.Add('original_id', OriginalId);
  F.Add('amount', Amount);
  Result := SendNew('refund', Id, F);
end;

function TTezgahClient.Void(const Terminal, OriginalId, Id: string): TTezgahResult;
var
  F: TJSONObject;
begin
  F := TJSONObject.Create;
  F.Add('terminal', Terminal);
  F.Add('original_id', OriginalId);
  Result := SendNew('void', Id, F);
end;

function TTezgahClient.EndOfDay(const Terminal: string; Summary: Boolean; const Id: string): TTezgahResult;
var
  F: TJSONObject;
begin
  F := TJSONObject.Create;
  F.Add('terminal', Terminal);
  if Summary then
    F.Add('summary', True);
  Result := SendNew('end_of_day', Id, F);
end;

procedure TTezgahClient.Connection(Up: Boolean; const Why: string);
begin
  if Up = FLastUp then
    Exit;
  FLastUp := Up;
  if Assigned(OnConnection) then
    OnConnection(Up, Why);
end;

{ 0.5 s doubling to 10 s with jitter, never past the call's deadline. }
procedure TTezgahClient.Backoff(var DelayMs: Integer; Deadline: TDateTime);
var
  Ms: Integer;
begin
  if Now > Deadline then
    raise ETezgahError.CreateCode('timeout', '', 'the agent did not answer in time');
  Ms := DelayMs div 2 + Random(DelayMs div 2 + 1);
  Sleep(Ms);
  DelayMs := DelayMs * 2;
  if DelayMs > 10000 then
    DelayMs := 10000;
end;

{ One HTTP exchange; any status comes back (no exception), a connection
  failure raises. A fresh connection each time: after an agent restart a kept
  connection would be dead. }
function TTezgahClient.Http(const Method, Path, Body: string; out Status: Integer; out RetryAfterS: Integer): string;
var
  C: TFPHTTPClient;
  Resp: TStringStream;
begin
  C := TFPHTTPClient.Create(nil);
  Resp := TStringStream.Create('');
  try
    C.ConnectTimeout := 5000;
    C.IOTimeout := (PollWait + 15) * 1000;
    C.AddHeader('Tezgah-Register', FRegister);
    if Token <> '' then
      C.AddHeader('Authorization', 'Bearer ' + Token);
    if Body <> '' then
    begin
      C.AddHeader('Content-Type', 'application/json');
      C.RequestBody := TStringStream.Create(Body);
    end;
    try
      C.HTTPMethod(Method, FBaseUrl + Path, Resp, []);
    finally
      C.RequestBody.Free;
      C.RequestBody := nil;
    end;
    Status := C.ResponseStatusCode;
    if Status < 100 then { the agent died mid-answer: fphttpclient may not raise }
      raise EHTTPClient.Create('connection lost before an HTTP answer');
    RetryAfterS := StrToIntDef(C.GetHeader(C.ResponseHeaders, 'Retry-After'), 0);
    Result := Resp.DataString;
  finally
    Resp.Free;
    C.Free;
  end;
end;

{ Sends the command until the agent has stored it; returns its first answer. }
function TTezgahClient.Post(const Id, Body: string): TTezgahEvent;
var
  Status, RetryS, DelayMs, Ms: Integer;
  Text: string;
  Deadline: TDateTime;
  Err: ETezgahError;
begin
  Deadline := IncSecond(Now, CallTimeoutS);
  DelayMs := 500;
  while True do
  begin
    try
      Text := Http('POST', '/v1/commands', Body, Status, RetryS);
    except
      on E: Exception do
      begin
        { not stored as far as we know: the same id and body again is safe }
        Connection(False, E.Message);
        Backoff(DelayMs, Deadline);
        Continue;
      end;
    end;
    Connection(True, '');
    if (Status = 200) or (Status = 202) then
      Exit(ParseEvent(Text));
    Err := ErrorOf(Text, Status);
    if (Err.Code = 'busy') or (Err.Code = 'rate_limited') or (Err.Code = 'unavailable') or (Err.Code = 'shutting_down') then
    begin
      { nothing was stored: the same id and body again after the agent's delay }
      Ms := Err.RetryAfterMs;
      if Ms <= 0 then
        Ms := RetryS * 1000;
      if Ms <= 0 then
        Ms := 1000;
      if (Err.Code = 'busy') or (Err.Code = 'rate_limited') then
      begin
        Inc(FBusyRetries);
        if Assigned(OnBusy) then
          OnBusy(Id, Ms);
      end;
      Err.Free;
      if Now > Deadline then
        raise ETezgahError.CreateCode('timeout', '', 'the agent stayed busy; ' + Id + ' was never stored');
      Sleep(Ms);
      Continue;
    end;
    raise Err;
  end;
end;

{ Polls the request by id until its result, telling OnState of each new state. }
function TTezgahClient.Wait(const First: TTezgahEvent): TTezgahResult;
var
  Last, Ev: TTezgahEvent;
  Status, RetryS, DelayMs, W: Integer;
  Text: string;
  Deadline: TDateTime;
begin
  Last := First;
  if Assigned(OnState) and (First.Kind <> 'result') then
    OnState(First);
  Deadline := IncSecond(Now, CallTimeoutS);
  DelayMs := 500;
  while Last.Kind <> 'result' do
  begin
    if (Last.State = 'waiting') or (Last.State = 'unknown') then
      W := PollWait
    else
      W := 1;
    try
      Text := Http('GET', '/v1/requests/' + PathEscape(First.Id) + '?wait=' + IntToStr(W), '', Status, RetryS);
    except
      on E: Exception do
      begin
        { the agent is away (restarting?): the request is stored, ask again }
        Connection(False, E.Message);
        Backoff(DelayMs, Deadline);
        Continue;
      end;
    end;
    Connection(True, '');
    if (Status = 503) or (Status = 429) then { unavailable / shutting_down / rate_limited: ask again }
    begin
      Backoff(DelayMs, Deadline);
      Continue;
    end;
    if Status <> 200 then
      raise ErrorOf(Text, Status);
    DelayMs := 500;
    Ev := ParseEvent(Text);
    if (Ev.Kind <> Last.Kind) or (Ev.State <> Last.State) or (Ev.Seq <> Last.Seq) then
    begin
      Last := Ev;
      if Assigned(OnState) and (Ev.Kind <> 'result') then
        OnState(Ev);
    end;
    if (Last.Kind <> 'result') and (Now > Deadline) then
      raise ETezgahError.CreateCode('timeout', '', 'no result for ' + First.Id + ' yet; it is stored: ask again with Resume');
  end;
  Result := ParseResult(Last.Json);
end;

function TTezgahClient.Send(const Id, Body: string): TTezgahResult;
begin
  Result := Wait(Post(Id, Body));
end;

function TTezgahClient.Resume(const Id: string): TTezgahResult;
begin
  Result := Wait(Query(Id));
end;

{ Ask posts command Kind for Id and returns its answer: the request's
  event, or the error raised. }
function TTezgahClient.Ask(const Kind, Id: string): TTezgahEvent;
var
  C: TJSONObject;
  Status, RetryS: Integer;
  Text: string;
begin
  C := Cmd(Kind, Id, nil);
  try
    Text := Http('POST', '/v1/commands', C.AsJSON, Status, RetryS);
  finally
    C.Free;
  end;
  if Status <> 200 then
    raise ErrorOf(Text, Status);
  Result := ParseEvent(Text);
end;

function TTezgahClient.Query(const Id: string): TTezgahEvent;
begin
  Result := Ask('query', Id);
end;

function TTezgahClient.Cancel(const Id: string): TTezgahEvent;
begin
  Result := Ask('cancel', Id);
end;

function TTezgahClient.Status: string;
var
  Code, RetryS: Integer;
begin
  Result := Http('POST', '/v1/commands', '{"type":"status"}', Code, RetryS);
  if Code <> 200 then
    raise ErrorOf(Result, Code);
end;

end.
