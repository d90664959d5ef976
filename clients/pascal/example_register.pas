{ An example register: a sale, then a refund of it, printing what the
  cashier sees. Restart the agent in the middle: the client keeps asking and
  the result still arrives.
    ./bin/example_register --url http://127.0.0.1:8417 --register kasa-pc-1 --terminal kasa-1 --amount 150.00 }
program example_register;

{$mode delphi}{$H+}

uses
  SysUtils, tezgah;

type
  TCashier = class
    Prefix: string;
    procedure State(const E: TTezgahEvent);
    procedure Connection(Up: Boolean; const Why: string);
    procedure Show(const R: TTezgahResult);
  end;

procedure TCashier.State(const E: TTezgahEvent);
begin
  if E.State = 'queued' then
    WriteLn(Prefix, 'queued…')
  else if E.State = 'sending' then
    WriteLn(Prefix, 'waiting for card…')
  else if E.State = 'waiting' then
    WriteLn(Prefix, 'customer must confirm on this page: ', E.ActionUrl)
  else if E.State = 'unknown' then
    WriteLn(Prefix, 'checking with the bank (unknown)…');
end;

procedure TCashier.Connection(Up: Boolean; const Why: string);
begin
  if Up then
    WriteLn('(connected to the agent)')
  else
    WriteLn('(agent not reachable: ', Why, '; trying again…)');
end;

procedure TCashier.Show(const R: TTezgahResult);
begin
  if R.Approved then
    WriteLn(Prefix, 'APPROVED auth ', R.Payment.AuthCode, ' card ', R.Payment.MaskedPan, ' (id ', R.Id, ')')
  else
    WriteLn(Prefix, UpperCase(R.Status), ': ', R.ErrorMessage, ' [', R.ErrorCode, ']');
end;

function Arg(const Name, Def: string): string;
var
  I: Integer;
begin
  Result := Def;
  for I := 1 to ParamCount - 1 do
    if ParamStr(I) = '--' + Name then
      Result := ParamStr(I + 1);
end;

var
  Cashier: TCashier;
  Client: TTezgahClient;
  Terminal, Amount: string;
  Sale, Refund: TTezgahResult;
begin
  Terminal := Arg('terminal', 'kasa-1');
  Amount := Arg('amount', '150.00');
  Cashier := TCashier.Create;
  Cashier.Prefix := '[' + Terminal + '] ';
  Client := TTezgahClient.Create(Arg('url', 'http://127.0.0.1:8417'), Arg('register', 'kasa-pc-1'));
  Client.OnState := Cashier.State;
  Client.OnConnection := Cashier.Connection;
  try
    WriteLn(Cashier.Prefix, 'Sale ', Amount, ' TRY: sending…');
    Sale := Client.Sale(Terminal, Amount, Client.NewId);
    Cashier.Show(Sale);
    if Sale.Approved then
    begin
      WriteLn(Cashier.Prefix, 'Refund ', Amount, ' TRY of ', Sale.Id, ': sending…');
      Refund := Client.Refund(Terminal, Sale.Id, Amount, Client.NewId);
      Cashier.Show(Refund);
      if not Refund.Approved then
        ExitCode := 1;
    end
    else
      ExitCode := 1;
  except
    on E: ETezgahError do
    begin
      WriteLn(Cashier.Prefix, 'ERROR ', E.Code, ': ', E.Message);
      ExitCode := 2;
    end;
  end;
  Client.Free;
  Cashier.Free;
end.
